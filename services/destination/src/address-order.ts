import { isIPv4, isIPv6 } from 'node:net';

/**
 * Orders addresses numerically: IPv4 before IPv6, each by value
 * (`127.0.0.2` before `127.0.0.10`), anything else last by text.
 */
export function compareAddresses(a: string, b: string): number {
  const ka = addressSortKey(a);
  const kb = addressSortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function addressSortKey(address: string): string {
  if (isIPv4(address)) return `4:${address.split('.').map((octet) => octet.padStart(3, '0')).join('.')}`;
  if (isIPv6(address)) {
    const groups = ipv6Groups(address);
    if (groups) return `6:${groups.map((g) => g.padStart(4, '0')).join(':')}`;
  }
  return `9:${address}`;
}

/** The eight hex groups of an IPv6 address; undefined for forms URL parsing refuses (zone ids). */
function ipv6Groups(address: string): string[] | undefined {
  let canonical: string;
  try {
    // The WHATWG URL serializer writes IPv6 in canonical form, with any embedded IPv4 as hex groups.
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right];
}
