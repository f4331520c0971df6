import { formatIp, isIpAddress, parseIp, type ParsedIp } from './ip.js';

/** A network: its first address as one number (IPv6 as 128 bits) and its prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bits: bigint;
  readonly prefix: number;
}

function toBits(ip: ParsedIp): bigint {
  return ip.family === 4 ? BigInt(ip.value) : (ip.high << 64n) | ip.low;
}

function fromBits(family: 4 | 6, bits: bigint): ParsedIp {
  return family === 4 ? { family: 4, value: Number(bits) } : { family: 6, high: bits >> 64n, low: bits & 0xffff_ffff_ffff_ffffn };
}

const width = (family: 4 | 6) => (family === 4 ? 32 : 128);

/** How {@link parseCidr} reads a network. */
export interface ParseCidrOptions {
  /** What to do with bits set after the prefix (`10.0.0.1/8`): refuse them, naming the network meant, or clear them. @default 'refuse' */
  readonly hostBits?: 'refuse' | 'clear';
}

/**
 * Parses `10.0.0.0/8`, `fd00::/64` or a bare address (a /32 or /128).
 * Returns an error for text that is no network, and (unless told to clear
 * them) for host bits set after the prefix.
 */
export function parseCidr(text: string, options: ParseCidrOptions = {}): Cidr | { readonly error: string } {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  if (!isIpAddress(address)) return { error: `${JSON.stringify(text)} is not a network: write an IPv4 or IPv6 address and a prefix length, e.g. 10.0.0.0/8 or fd00::/16` };
  const ip = parseIp(address);
  const max = width(ip.family);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return { error: `${JSON.stringify(text)}: the prefix length must be a number from 0 to ${max}` };
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return { error: `${JSON.stringify(text)}: the prefix length must be a number from 0 to ${max}` };
  const bits = toBits(ip);
  const network = bits & mask(ip.family, prefix);
  if (network !== bits && options.hostBits !== 'clear') {
    const meant = formatCidr({ family: ip.family, bits: network, prefix });
    return { error: `${JSON.stringify(text)} has bits set after the /${prefix} prefix; the network is written ${meant}` };
  }
  return { family: ip.family, bits: network, prefix };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const w = BigInt(width(family));
  const all = (1n << w) - 1n;
  return prefix === 0 ? 0n : (all >> (w - BigInt(prefix))) << (w - BigInt(prefix));
}

/** Canonical text: the address as formatIp writes it, always with the prefix length. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(fromBits(cidr.family, cidr.bits))}/${cidr.prefix}`;
}

/** Whether `inner` lies inside `outer` (the same network counts). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && (inner.bits & mask(outer.family, outer.prefix)) === outer.bits;
}
