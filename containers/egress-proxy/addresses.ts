import { BlockList, isIP } from 'node:net';

/**
 * Which destinations a sandbox may reach at all, whatever its allowlist says: only
 * globally routable unicast addresses. Everything else (loopback, RFC 1918, link-local
 * with the instance metadata and ECS credential endpoints, CGNAT, unique-local,
 * multicast, documentation and other special-purpose ranges) would let a sandbox reach
 * the VPC, the task's own credentials or the proxy itself. The ranges are IANA's
 * special-purpose registries; IPv6 is allowed only inside global unicast (2000::/3).
 */

export type AddressClass =
  | 'global'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared (CGNAT)'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'reserved';

type Range = [address: string, prefix: number, kind: Exclude<AddressClass, 'global'>];

const IPV4_RANGES: Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  // 169.254.169.254 (instance metadata), 169.254.170.2 (ECS task credentials), 169.254.169.253 (DNS).
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const IPV6_RANGES: Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  // fd00:ec2::254 (the IPv6 instance metadata endpoint) is inside fc00::/7.
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
  // Inside 2000::/3 but not global: IETF protocol assignments (Teredo among them), documentation, 6to4.
  ['2001::', 23, 'reserved'],
  ['2001:db8::', 32, 'reserved'],
  ['2002::', 16, 'reserved'],
  ['3fff::', 20, 'reserved'],
];

function blockLists(ranges: Range[], family: 'ipv4' | 'ipv6'): Array<[BlockList, Range[2]]> {
  return ranges.map(([address, prefix, kind]) => {
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return [list, kind];
  });
}

const V4 = blockLists(IPV4_RANGES, 'ipv4');
const V6 = blockLists(IPV6_RANGES, 'ipv6');
const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6');

/** The 8 16-bit groups of an IPv6 address (already valid per isIP). */
function ipv6Groups(address: string): number[] {
  let text = address;
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function mappedIpv4(address: string): string | undefined {
  const groups = ipv6Groups(address);
  if (!groups.slice(0, 5).every((group) => group === 0) || groups[5] !== 0xffff) return undefined;
  const [high, low] = [groups[6]!, groups[7]!];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** What kind of address this is; 'global' is the only kind a sandbox may reach. Throws on a non-address. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return V4.find(([list]) => list.check(bare, 'ipv4'))?.[1] ?? 'global';
  if (family === 6) {
    const v4 = mappedIpv4(bare);
    if (v4 !== undefined) return classifyAddress(v4);
    const kind = V6.find(([list]) => list.check(bare, 'ipv6'))?.[1];
    if (kind) return kind;
    return GLOBAL_UNICAST_V6.check(bare, 'ipv6') ? 'global' : 'reserved';
  }
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
}
