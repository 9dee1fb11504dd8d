import { describe, expect, it } from 'vitest';
import { classifyAddress } from '../../containers/egress-proxy/addresses.ts';

/** Which destinations the egress proxy refuses whatever the allowlist says. */

describe('classifyAddress', () => {
  it('lets only global unicast through', () => {
    for (const address of [
      '93.184.215.14',
      '8.8.8.8',
      '1.1.1.1',
      '2606:4700::1111',
      '2a00:1450:4001:80b::200e',
      '[2606:4700::1111]',
    ]) {
      expect(classifyAddress(address), address).toBe('global');
    }
  });

  it('refuses the AWS endpoints a task could steal credentials or reach the VPC through', () => {
    expect(classifyAddress('169.254.169.254')).toBe('link-local'); // instance metadata
    expect(classifyAddress('169.254.170.2')).toBe('link-local'); // ECS task credentials
    expect(classifyAddress('169.254.169.253')).toBe('link-local'); // Route 53 resolver
    expect(classifyAddress('fd00:ec2::254')).toBe('unique-local'); // IPv6 instance metadata
    expect(classifyAddress('10.0.0.2')).toBe('private'); // the VPC's resolver
  });

  it('names each non-global range', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['::1', 'loopback'],
      ['10.255.255.255', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'shared (CGNAT)'],
      ['100.127.255.255', 'shared (CGNAT)'],
      ['169.254.0.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['fc00::1', 'unique-local'],
      ['fdff:ffff::1', 'unique-local'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'reserved'],
      ['240.0.0.1', 'reserved'],
      ['192.0.2.1', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['2001:db8::1', 'reserved'],
      ['2002:a9fe:a9fe::1', 'reserved'], // 6to4 wrapping 169.254.169.254
      ['2001::1', 'reserved'], // Teredo
      ['64:ff9b::a9fe:a9fe', 'reserved'], // NAT64 outside global unicast
      ['100::1', 'reserved'],
    ];
    for (const [address, kind] of cases) expect(classifyAddress(address), address).toBe(kind);
  });

  it('sees through IPv4-mapped IPv6 in every spelling', () => {
    expect(classifyAddress('::ffff:169.254.169.254')).toBe('link-local');
    expect(classifyAddress('::ffff:a9fe:a9fe')).toBe('link-local');
    expect(classifyAddress('[::ffff:7f00:1]')).toBe('loopback');
    expect(classifyAddress('0:0:0:0:0:ffff:0a00:0001')).toBe('private');
    expect(classifyAddress('::ffff:8.8.8.8')).toBe('global');
  });

  it('keeps the edges of ranges right', () => {
    expect(classifyAddress('172.15.255.255')).toBe('global');
    expect(classifyAddress('172.32.0.0')).toBe('global');
    expect(classifyAddress('100.63.255.255')).toBe('global');
    expect(classifyAddress('100.128.0.0')).toBe('global');
    expect(classifyAddress('169.253.255.255')).toBe('global');
    expect(classifyAddress('223.255.255.255')).toBe('global');
  });

  it('throws on something that is not an address', () => {
    expect(() => classifyAddress('example.com')).toThrow('not an IP address: "example.com"');
  });
});
