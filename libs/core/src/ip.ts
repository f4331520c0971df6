import { isIP } from 'node:net';
import { MeshbusError } from './errors.js';

/** Text that is not an IPv4 or IPv6 address. */
export class IpAddressError extends MeshbusError {
  override name = 'IpAddressError';
  constructor(message: string) {
    super('InvalidIpAddress', message);
  }
}

/** An IP address as numbers: IPv4 as one 32-bit value, IPv6 as two 64-bit halves. */
export type ParsedIp = { readonly family: 4; readonly value: number } | { readonly family: 6; readonly high: bigint; readonly low: bigint };

/** Whether `text` is an IPv4 or IPv6 address, without zone id or prefix length. */
export function isIpAddress(text: string): boolean {
  return isIP(text) !== 0 && !text.includes('%');
}

/**
 * Parses an IPv4 (dotted quad) or IPv6 address (any textual form, including `::` and an embedded
 * IPv4 tail). Zone ids (`fe80::1%eth0`) and prefix lengths are refused.
 */
export function parseIp(text: string): ParsedIp {
  const family = isIP(text);
  if (family === 4) {
    const v = text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    return { family: 4, value: v };
  }
  if (family === 6 && !text.includes('%')) {
    const groups = ipv6Groups(text);
    let high = 0n;
    let low = 0n;
    for (let i = 0; i < 4; i++) high = (high << 16n) | BigInt(groups[i]!);
    for (let i = 4; i < 8; i++) low = (low << 16n) | BigInt(groups[i]!);
    return { family: 6, high, low };
  }
  throw new IpAddressError(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(text: string): number[] {
  let body = text;
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    tail.push(a * 256 + b, c * 256 + d);
    body = body.slice(0, v4.index);
    // `::1.2.3.4` leaves `::`, `a:b::c:1.2.3.4` leaves `a:b::c:`: drop the separator before the tail.
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const parts = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const gap = body.indexOf('::');
  let groups: number[];
  if (gap < 0) {
    groups = [...parts(body), ...tail];
  } else {
    const head = parts(body.slice(0, gap));
    const rest = parts(body.slice(gap + 2));
    const zeros = 8 - head.length - rest.length - tail.length;
    groups = [...head, ...new Array<number>(zeros).fill(0), ...rest, ...tail];
  }
  return groups;
}

/**
 * The canonical text of an address: IPv4 as a dotted quad, IPv6 in RFC 5952 form (lowercase,
 * the longest run of two or more zero groups as `::`).
 */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) return [24, 16, 8, 0].map((shift) => Math.floor(ip.value / 2 ** shift) % 256).join('.');
  const groups: number[] = [];
  for (let i = 3; i >= 0; i--) groups.push(Number((ip.high >> BigInt(i * 16)) & 0xffffn));
  for (let i = 3; i >= 0; i--) groups.push(Number((ip.low >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The canonical text of an address given in any valid form. */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

/**
 * Orders addresses numerically: IPv4 before IPv6, each by value (`127.0.0.2` before
 * `127.0.0.10`); text that is not an address sorts last, by text.
 */
export function compareIp(a: string, b: string): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function sortKey(text: string): string {
  if (!isIpAddress(text)) return `9:${text}`;
  const ip = parseIp(text);
  if (ip.family === 4) return `4:${ip.value.toString(16).padStart(8, '0')}`;
  return `6:${ip.high.toString(16).padStart(16, '0')}${ip.low.toString(16).padStart(16, '0')}`;
}
