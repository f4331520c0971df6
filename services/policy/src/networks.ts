import { formatCidr, MeshbusError, parseCidr } from '@meshbus/core';

/** A network that cannot be read as a CIDR. */
export class NetworkError extends MeshbusError {
  override name = 'NetworkError';
  constructor(message: string) {
    super('InvalidNetwork', message);
  }
}

/**
 * A network in canonical CIDR notation: host bits cleared, IPv6 compressed;
 * a bare address becomes a /32 or /128 network.
 */
export function canonicalCidr(text: string): string {
  const cidr = parseCidr(text.trim(), { hostBits: 'clear' });
  if ('error' in cidr) throw new NetworkError(cidr.error);
  return formatCidr(cidr);
}
