import { canonicalIp, isIpAddress } from '@meshbus/core';
import { MeshbusError } from '@meshbus/runtime';

/** A Destination request path that is not a service name of this cluster. */
export class DestinationPathError extends MeshbusError {
  override name = 'DestinationPathError';
  constructor(message: string) {
    super('InvalidDestinationPath', message);
  }
}

/** The service port a Destination path names. */
export interface ServiceTarget {
  service: string;
  namespace: string;
  port: number;
  /** `<svc>.<ns>.svc.<cluster-domain>`. */
  fqdn: string;
}

const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses `<svc>.<ns>.svc.<cluster-domain>[:<port>]` (port 80 when absent, as
 * for an HTTP authority). Anything else is refused with a reason.
 */
export function parseDestinationPath(path: string, clusterDomain: string): ServiceTarget {
  if (path.length === 0 || path.length > 300) throw new DestinationPathError(`path must be <service>.<namespace>.svc.${clusterDomain}:<port>`);
  // Checked before lower-casing, which turns some non-ASCII letters (the Kelvin sign) into ASCII ones.
  if (!/^[\x21-\x7e]+$/.test(path)) throw new DestinationPathError(`${JSON.stringify(path)} holds characters other than printable ASCII`);
  let host = path;
  let port = 80;
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    host = path.slice(0, colon);
    const p = path.slice(colon + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new DestinationPathError(`invalid port ${JSON.stringify(p)} in ${JSON.stringify(path)}`);
    port = Number(p);
  }
  host = host.toLowerCase().replace(/\.$/, '');
  const suffix = `.svc.${clusterDomain}`;
  if (!host.endsWith(suffix)) throw new DestinationPathError(`${JSON.stringify(path)} is not a service name in cluster domain ${clusterDomain}`);
  const parts = host.slice(0, -suffix.length).split('.');
  if (parts.length !== 2 || !label.test(parts[0]!) || !label.test(parts[1]!)) {
    throw new DestinationPathError(`${JSON.stringify(path)} must be <service>.<namespace>.svc.${clusterDomain}:<port>`);
  }
  return { service: parts[0]!, namespace: parts[1]!, port, fqdn: host };
}

/** An IP address and port a Destination path names. */
export interface AddressTarget {
  /** The IP in canonical form (RFC 5952 for IPv6). */
  ip: string;
  port: number;
  /** `<ip>:<port>`, `[<v6>]:<port>` for IPv6: the key addresses are indexed by. */
  key: string;
}

/** What a Destination path names: a service port, or an address. */
export type DestinationTarget = { kind: 'service'; service: ServiceTarget } | { kind: 'address'; address: AddressTarget };

/** `10.0.0.1:80`, `[fd00::1]:80`. */
export const addressKey = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

function readPort(text: string, path: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new DestinationPathError(`invalid port ${JSON.stringify(text)} in ${JSON.stringify(path)}`);
  return Number(text);
}

const dottedQuad = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Reads `<ip>:<port>` or `[<ipv6>]:<port>` (port 80 when absent); undefined
 * when the path is not written as an address (then it may be a name).
 */
function parseAddressPath(path: string): AddressTarget | undefined {
  let host: string;
  let port = 80;
  if (path.startsWith('[')) {
    const close = path.indexOf(']');
    if (close === -1) throw new DestinationPathError(`${JSON.stringify(path)} opens an IPv6 address with "[" but does not close it; write [<ipv6>]:<port>`);
    host = path.slice(1, close);
    const rest = path.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new DestinationPathError(`${JSON.stringify(path)} must be [<ipv6>]:<port>`);
      port = readPort(rest.slice(1), path);
    }
    if (!isIpAddress(host) || !host.includes(':')) throw new DestinationPathError(`${JSON.stringify(host)} in ${JSON.stringify(path)} is not an IPv6 address`);
  } else {
    const colons = path.split(':').length - 1;
    if (colons > 1) {
      const hint = isIpAddress(path) ? `; write it in brackets with a port: [${path}]:<port>` : '';
      throw new DestinationPathError(`${JSON.stringify(path)} is neither <name>:<port> nor <ip>:<port>${hint}`);
    }
    const colon = path.lastIndexOf(':');
    host = colon === -1 ? path : path.slice(0, colon);
    if (!dottedQuad.test(host)) return undefined;
    if (!isIpAddress(host)) throw new DestinationPathError(`${JSON.stringify(host)} in ${JSON.stringify(path)} is not an IPv4 address`);
    if (colon !== -1) port = readPort(path.slice(colon + 1), path);
  }
  const ip = canonicalIp(host);
  return { ip, port, key: addressKey(ip, port) };
}

/**
 * Reads a Destination path: a service name as {@link parseDestinationPath}
 * reads it, or an address, `<ipv4>:<port>` or `[<ipv6>]:<port>` (port 80 when
 * absent), as transparent proxies ask for the original destination of a
 * connection. Anything else is refused with a reason.
 */
export function parseDestinationTarget(path: string, clusterDomain: string): DestinationTarget {
  if (path.length === 0 || path.length > 300) throw new DestinationPathError(`path must be <service>.<namespace>.svc.${clusterDomain}:<port> or <ip>:<port>`);
  if (!/^[\x21-\x7e]+$/.test(path)) throw new DestinationPathError(`${JSON.stringify(path)} holds characters other than printable ASCII`);
  const address = parseAddressPath(path);
  if (address) return { kind: 'address', address };
  return { kind: 'service', service: parseDestinationPath(path, clusterDomain) };
}
