import { describe, expect, it } from 'vitest';
import { classifyAddress, isInNetwork, isNetwork } from './ip-address.js';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'], ['93.184.215.14', 'public'], ['2606:4700::1111', 'public'],
    ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['127.0.0.1', 'loopback'], ['127.255.1.2', 'loopback'], ['::1', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['172.32.0.1', 'public'], ['100.64.0.1', 'shared'],
    ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'], ['fd12:3456::1', 'unique-local'],
    ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'], ['240.0.0.1', 'reserved'],
    // IPv4 inside IPv6: the IPv4 address decides.
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:10.0.0.1', 'private'], ['::ffff:8.8.8.8', 'public'], ['::127.0.0.1', 'loopback'],
    ['64:ff9b::169.254.169.254', 'link-local'], ['2002:7f00:1::', 'loopback'], ['2002:0808:0808::', 'public'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('is undefined for what is not an address', () => {
    expect(classifyAddress('localhost')).toBeUndefined();
    expect(classifyAddress('1.2.3')).toBeUndefined();
    expect(classifyAddress('::ffff:1.2.3.4.5')).toBeUndefined();
  });
});

describe('isInNetwork', () => {
  it('matches CIDRs of both families, mapped addresses against IPv4 networks, and bare addresses as hosts', () => {
    expect(isInNetwork('10.20.30.40', '10.20.0.0/16')).toBe(true);
    expect(isInNetwork('10.21.0.1', '10.20.0.0/16')).toBe(false);
    expect(isInNetwork('::ffff:10.20.0.1', '10.20.0.0/16')).toBe(true);
    expect(isInNetwork('fd00::5', 'fd00::/8')).toBe(true);
    expect(isInNetwork('127.0.0.1', '127.0.0.1')).toBe(true);
    expect(isInNetwork('127.0.0.2', '127.0.0.1')).toBe(false);
    expect(isInNetwork('1.2.3.4', '0.0.0.0/0')).toBe(true);
    expect(isInNetwork('::1', '10.0.0.0/8')).toBe(false);
  });

  it('validates network notation', () => {
    for (const good of ['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::/0']) expect(isNetwork(good)).toBe(true);
    for (const bad of ['10.0.0.0/33', 'example.org/8', '10.0.0.0/8/1', '::/129', '10.0.0.0/x']) expect(isNetwork(bad)).toBe(false);
  });
});
