import { isIPv4, isIPv6 } from 'node:net';
import { MeshbusError } from '@meshbus/runtime';

/** A network that cannot be read as a CIDR. */
export class NetworkError extends MeshbusError {
  override name = 'NetworkError';
  constructor(message: string) {
    super('InvalidNetwork', message);
  }
}

function ipv4Bits(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6Bits(address: string): bigint {
  let text = address;
  // A trailing dotted quad stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Bits(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function formatIpv4(bits: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join('.');
}

function formatIpv6(bits: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((bits >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups is written `::`.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * A network in canonical CIDR notation: host bits cleared, IPv6 compressed;
 * a bare address becomes a /32 or /128 network.
 */
export function canonicalCidr(text: string): string {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const v4 = isIPv4(address);
  if (rest.length > 0 || (!v4 && !isIPv6(address))) throw new NetworkError(`${JSON.stringify(text)} is not a network in CIDR notation (e.g. 10.0.0.0/8)`);
  const width = v4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= width)) throw new NetworkError(`${JSON.stringify(text)}: the prefix length must be 0 to ${width}`);
  const bits = v4 ? ipv4Bits(address) : ipv6Bits(address);
  const mask = ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
  const network = bits & mask;
  return `${v4 ? formatIpv4(network) : formatIpv6(network)}/${prefix}`;
}
