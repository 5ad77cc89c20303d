import { isIP } from 'node:net';
import type { NodeConfig } from '../../config/schema.js';

/** Suffixes reserved for names that never resolve on the public internet (RFC 6762, 6761, 8375; `.internal`). */
const RESERVED_SUFFIXES = ['local', 'localhost', 'internal', 'home.arpa'];

function ipv4Internal(ip: string): boolean {
  const [a = 0, b = 0] = ip.split('.').map(Number);
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
    || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127) || a === 0;
}

function ipv6Internal(ip: string): boolean {
  const lower = ip.toLowerCase();
  if (lower === '::1' || lower === '::') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return ipv4Internal(mapped[1]!);
  const first = parseInt(lower.split(':')[0] || '0', 16);
  // fc00::/7 unique local, fe80::/10 link local.
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
}

/**
 * Whether a host is inside the organisation: loopback and private addresses, single-label
 * names (resolved by the organisation's own DNS), reserved local suffixes, and the configured
 * `privacy.internal_domains`. Everything else is a recipient outside the organisation.
 */
export function isInternalHost(host: string, internalDomains: readonly string[] = []): boolean {
  const name = host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  const family = isIP(name);
  if (family === 4) return ipv4Internal(name);
  if (family === 6) return ipv6Internal(name);
  if (!name.includes('.')) return true;
  const suffixes = [...RESERVED_SUFFIXES, ...internalDomains.map((d) => d.replace(/^\./, '').toLowerCase())];
  return suffixes.some((suffix) => name === suffix || name.endsWith(`.${suffix}`));
}

export interface NodeLocation {
  name: string;
  type: NodeConfig['type'];
  /** Host (and port) only: no credentials or paths. */
  host: string | null;
  internal: boolean;
  /** Sent without TLS to a host outside the organisation. */
  plainHttp: boolean;
}

export function locateNode(node: NodeConfig, internalDomains: readonly string[] = []): NodeLocation {
  if (!node.url) return { name: node.name, type: node.type, host: null, internal: true, plainHttp: false };
  const url = new URL(node.url);
  const internal = isInternalHost(url.hostname, internalDomains);
  return { name: node.name, type: node.type, host: url.host, internal, plainHttp: !internal && url.protocol === 'http:' };
}
