import { describe, expect, it } from 'vitest';
import { AddressList, isAddressOrCidr } from './address-list.js';

describe('AddressList', () => {
  it('accepts addresses and CIDR ranges of both families, and nothing else', () => {
    for (const entry of ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '0.0.0.0/0']) expect(isAddressOrCidr(entry), entry).toBe(true);
    for (const entry of ['localhost', '10.0.0.0/33', '::/129', '10.0.0', '', '10.0.0.0/']) expect(isAddressOrCidr(entry), entry).toBe(false);
  });

  it('matches addresses, ranges and the IPv6 form of IPv4 addresses that dual-stack sockets report', () => {
    const list = new AddressList(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(list.has('127.0.0.1')).toBe(true);
    expect(list.has('::ffff:127.0.0.1')).toBe(true);
    expect(list.has('10.200.3.4')).toBe(true);
    expect(list.has('fd12::1')).toBe(true);
    expect(list.has('11.0.0.1')).toBe(false);
    expect(list.has('::1')).toBe(false);
    expect(list.has(undefined)).toBe(false);
    expect(list.has('not an address')).toBe(false);
  });
});
