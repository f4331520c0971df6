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
