import { BlockList, isIP } from 'node:net';

const CIDR = /^([^/]+)\/(\d{1,3})$/;

/** Whether `entry` is an IPv4/IPv6 address or a CIDR range (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr(entry: string): boolean {
  const match = CIDR.exec(entry);
  if (!match) return isIP(entry) !== 0;
  const family = isIP(match[1]!);
  const bits = Number(match[2]);
  return family !== 0 && bits <= (family === 4 ? 32 : 128);
}

/** Strips the IPv6 form of an IPv4 address (`::ffff:10.0.0.1`), which dual-stack sockets report. */
function plainAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A list of addresses and CIDR ranges; `has` answers for one client address. */
export class AddressList {
  private readonly list = new BlockList();

  /** Throws on an entry that `isAddressOrCidr` refuses (the config schema checks first). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      if (!isAddressOrCidr(entry)) throw new Error(`"${entry}" is not an IP address or a CIDR range`);
      const match = CIDR.exec(entry);
      const address = match ? match[1]! : plainAddress(entry);
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (match) this.list.addSubnet(address, Number(match[2]), type);
      else this.list.addAddress(address, type);
    }
  }

  has(address: string | undefined): boolean {
    if (address === undefined) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}
