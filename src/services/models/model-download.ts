import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { Agent, fetch as undiciFetch, type Response } from 'undici';
import type { Config } from '../../config/schema.js';
import { FlexiError } from '../../core/errors.js';
import { classifyAddress, isInNetwork } from '../../lib/ip-address.js';

/**
 * Downloads for model pulls, where an admin (or whoever took over an admin's session) names the
 * URL: without a guard the gateway would fetch cloud metadata (169.254.169.254), reach services
 * on its own loopback or private network, and map open ports by its error messages (issue 12).
 *
 * Every hop (the first URL and each redirect) must be http(s) to a host on the allow-list. Host
 * names are resolved once, by the connection itself (the Agent's `lookup`), and every address
 * they resolve to must be public or inside an allowed network: the address checked is the
 * address connected to, so a DNS answer that changes between a check and the connection (DNS
 * rebinding) cannot slip through. Address literals are checked before connecting.
 */

export interface PullPolicy {
  /** `huggingface.co`, `*.hf.co` (any host under hf.co), `*` (any host). */
  allowHosts: readonly string[];
  /** CIDR networks that may be reached although they are not public. */
  allowNetworks: readonly string[];
  /** Host name → addresses; one call per connection. */
  resolve: (host: string) => Promise<LookupAddress[]>;
  connectTimeoutMs: number;
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export const systemResolve = (host: string): Promise<LookupAddress[]> => dnsLookup(host, { all: true, verbatim: true });

export function pullPolicyOf(config: Config, resolve: PullPolicy['resolve'] = systemResolve): PullPolicy {
  const pull = config.models.pull;
  return { allowHosts: pull.allow_hosts, allowNetworks: pull.allow_networks, connectTimeoutMs: pull.connect_timeout_ms, resolve };
}

function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (pattern === '*') return true;
    if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1));
    return name === pattern;
  });
}

/** Throws unless `address` is public or inside an allowed network. */
function checkAddress(policy: PullPolicy, host: string, address: string, where = ''): void {
  const kind = classifyAddress(address) ?? 'reserved';
  if (kind === 'public' || policy.allowNetworks.some((network) => isInNetwork(address, network))) return;
  const via = host === address ? '' : ` (${host} resolves to it)`;
  throw new FlexiError('pull_source_not_allowed', `source: ${address}${via}${where} is a ${kind} address; downloads go only to public addresses unless models.pull.allow_networks lists its network.`, { param: 'source' });
}

/** Throws unless the URL may be fetched: http(s), host on the allow-list, a literal address allowed. */
function checkUrl(policy: PullPolicy, url: URL, hop: number): void {
  const where = hop === 0 ? '' : ` (redirect ${hop})`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new FlexiError('pull_source_not_allowed', `source: only http and https downloads are allowed, got ${url.protocol}${where}.`, { param: 'source' });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!hostAllowed(host, policy.allowHosts)) {
    throw new FlexiError('pull_source_not_allowed', `source: ${host}${where} is not in models.pull.allow_hosts (${policy.allowHosts.join(', ')}).`, { param: 'source' });
  }
  if (classifyAddress(host) !== undefined) checkAddress(policy, host, host, where);
}

/** Throws unless `url` may be the first hop of a pull; connects nowhere. */
export function checkPullUrl(policy: PullPolicy, url: URL): void {
  checkUrl(policy, url, 0);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** `net.connect`'s `lookup`: resolves through the policy and refuses if any answer is not allowed. */
function guardedLookup(policy: PullPolicy) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    policy.resolve(hostname).then((answers) => {
      // Any forbidden answer refuses the host: a name that also points inside is not a public mirror.
      for (const answer of answers) checkAddress(policy, hostname, answer.address);
      const wanted = answers.filter((answer) => !options.family || answer.family === options.family);
      if (wanted.length === 0) throw Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
      if (options.all) callback(null, wanted);
      else callback(null, wanted[0]!.address, wanted[0]!.family);
    }).catch((error: NodeJS.ErrnoException) => callback(error, ''));
  };
}

function policyRefusal(error: unknown): FlexiError | undefined {
  for (let cause = error; cause; cause = (cause as { cause?: unknown }).cause) {
    if (cause instanceof FlexiError) return cause;
  }
  return undefined;
}

/**
 * A download connection that follows redirects itself, checking each hop. `close()` ends the
 * pinned connections; call it when the body is consumed.
 */
export class GuardedDownloader {
  private readonly agent: Agent;

  constructor(private readonly policy: PullPolicy) {
    this.agent = new Agent({ connect: { timeout: policy.connectTimeoutMs, lookup: guardedLookup(policy) } });
  }

  /** The final response (never a redirect) of a GET of `url`. */
  async get(url: URL, init: { headers: Record<string, string>; signal?: AbortSignal }): Promise<{ response: Response; url: URL }> {
    let current = url;
    for (let hop = 0; ; hop++) {
      checkUrl(this.policy, current, hop);
      const response = await undiciFetch(current, { headers: init.headers, redirect: 'manual', signal: init.signal, dispatcher: this.agent })
        .catch((error: unknown) => {
          if (init.signal?.aborted) throw error;
          // One message for refused, reset, timed out, TLS failure: which one would tell whether a port is open.
          throw policyRefusal(error) ?? new FlexiError('backend_unavailable', `Cannot download from ${current.host}: the connection failed.`, { cause: error });
        });
      if (!REDIRECTS.has(response.status)) return { response, url: current };
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (!location || hop >= MAX_REDIRECTS) throw new FlexiError('backend_error', `Download of ${url.href} was redirected ${hop + 1} times${location ? '' : ' without a Location'}; giving up.`);
      try {
        current = new URL(location, current);
      } catch (error) {
        throw new FlexiError('backend_error', `Download of ${url.href} was redirected to an invalid URL.`, { cause: error });
      }
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
