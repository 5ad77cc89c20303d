import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP address classes for outbound requests to addresses somebody else chose (model pulls):
 * which addresses are not the public internet. Works on the 16 bytes of the address so every
 * spelling (`::ffff:127.0.0.1`, `::ffff:7f00:1`, `0:0:0:0:0:ffff:7f00:0001`) lands in one class.
 */

export type AddressClass =
  | 'public' | 'unspecified' | 'loopback' | 'private' | 'link-local' | 'unique-local'
  | 'shared' | 'multicast' | 'reserved' | 'documentation';

/** `a.b.c.d` → 4 bytes, or undefined. */
function ipv4Bytes(text: string): number[] | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').map(Number);
}

/** Any IPv6 spelling (with a dotted IPv4 tail, without brackets or zone) → 16 bytes, or undefined. */
function ipv6Bytes(text: string): number[] | undefined {
  if (!isIPv6(text)) return undefined;
  // A dotted IPv4 tail is the last two groups.
  const hex = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`);
  const groups = (part: string): number[] => part.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16));
  const [left, right] = hex.split('::') as [string, string | undefined];
  const leftGroups = groups(left);
  const rightGroups = right === undefined ? [] : groups(right);
  const zeros = right === undefined ? 0 : 8 - leftGroups.length - rightGroups.length;
  const all = [...leftGroups, ...new Array<number>(Math.max(zeros, 0)).fill(0), ...rightGroups];
  if (all.length !== 8) return undefined;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function inRange(bytes: readonly number[], prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((bytes[i / 8]! & mask) !== (prefix[i / 8]! & mask)) return false;
  }
  return true;
}

const IPV4_RANGES: [number[], number, AddressClass][] = [
  [[0, 0, 0, 0], 8, 'unspecified'], [[10, 0, 0, 0], 8, 'private'], [[100, 64, 0, 0], 10, 'shared'],
  [[127, 0, 0, 0], 8, 'loopback'], [[169, 254, 0, 0], 16, 'link-local'], [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'], [[192, 0, 2, 0], 24, 'documentation'], [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'], [[198, 51, 100, 0], 24, 'documentation'], [[203, 0, 113, 0], 24, 'documentation'],
  [[224, 0, 0, 0], 4, 'multicast'], [[240, 0, 0, 0], 4, 'reserved'],
];

function classifyIpv4(bytes: readonly number[]): AddressClass {
  return IPV4_RANGES.find(([prefix, bits]) => inRange(bytes, prefix, bits))?.[2] ?? 'public';
}

function classifyIpv6(bytes: readonly number[]): AddressClass {
  const zeros = (from: number, to: number): boolean => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 16)) return 'unspecified';
  if (zeros(0, 15) && bytes[15] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d: the IPv4 address is where it goes.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyIpv4(bytes.slice(12));
  if (zeros(0, 12)) return classifyIpv4(bytes.slice(12));
  if (inRange(bytes, [0, 0x64, 0xff, 0x9b], 32) && zeros(4, 12)) return classifyIpv4(bytes.slice(12));
  // 6to4 2002:a.b.c.d::/48 reaches the embedded IPv4 address.
  if (bytes[0] === 0x20 && bytes[1] === 0x02) {
    const embedded = classifyIpv4(bytes.slice(2, 6));
    if (embedded !== 'public') return embedded;
  }
  if (inRange(bytes, [0xfe, 0x80], 10) || inRange(bytes, [0xfe, 0xc0], 10)) return 'link-local';
  if (inRange(bytes, [0xfc], 7)) return 'unique-local';
  if (bytes[0] === 0xff) return 'multicast';
  if (inRange(bytes, [0x20, 0x01, 0x0d, 0xb8], 32)) return 'documentation';
  if (inRange(bytes, [0x01, 0x00, 0, 0, 0, 0, 0, 0], 64)) return 'reserved'; // discard-only
  return 'public';
}

/** The class of an IP address literal (IPv4 or IPv6, no brackets); undefined when it is not one. */
export function classifyAddress(address: string): AddressClass | undefined {
  const v4 = ipv4Bytes(address);
  if (v4) return classifyIpv4(v4);
  const v6 = ipv6Bytes(address.replace(/%.*$/, ''));
  return v6 ? classifyIpv6(v6) : undefined;
}

/** Whether `address` lies in `cidr` (`10.0.0.0/8`, `fd00::/8`, a bare address = one host); IPv4-mapped IPv6 matches IPv4 networks. */
export function isInNetwork(address: string, cidr: string): boolean {
  const [network, bitsText] = cidr.split('/');
  const toBytes = (text: string): number[] | undefined => {
    const v6 = ipv6Bytes(text);
    if (v6 && v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
    return ipv4Bytes(text) ?? v6;
  };
  const target = toBytes(address.replace(/%.*$/, ''));
  const prefix = network === undefined ? undefined : toBytes(network);
  if (!target || !prefix || target.length !== prefix.length) return false;
  const bits = bitsText === undefined ? prefix.length * 8 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > prefix.length * 8) return false;
  return inRange(target, prefix, bits);
}

/** Whether `cidr` is a network `isInNetwork` understands (config validation). */
export function isNetwork(cidr: string): boolean {
  const [network, bitsText, extra] = cidr.split('/');
  if (extra !== undefined || network === undefined) return false;
  const length = isIPv4(network) ? 32 : isIPv6(network) ? 128 : 0;
  if (length === 0) return false;
  return bitsText === undefined || (/^\d{1,3}$/.test(bitsText) && Number(bitsText) <= length);
}
