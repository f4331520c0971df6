import { formatIp } from '@meshbus/core';
import { MeshbusError } from '@meshbus/runtime';
import type { net } from '@meshbus/proxy-api';
import { addressKey, DestinationPathError, parseDestinationPath, type ServiceTarget } from './destination-path.js';
import { parseWorkloadRef, type WorkloadRef } from './workload-ref.js';

/** A policy request the gateway cannot read (INVALID_ARGUMENT). */
export class PolicyRequestError extends MeshbusError {
  override name = 'PolicyRequestError';
  constructor(message: string) {
    super('InvalidPolicyRequest', message);
  }
}

/** A policy request naming something that is not a service of this cluster (NOT_FOUND). */
export class NotAServiceError extends MeshbusError {
  override name = 'NotAServiceError';
  constructor(message: string) {
    super('NotAService', message);
  }
}

/** The workload port of a PortSpec. */
export interface InboundTarget {
  workload: WorkloadRef;
  port: number;
}

/** What an OutboundPolicies request asks about. */
export type OutboundTarget =
  | { kind: 'service'; service: ServiceTarget }
  | {
      kind: 'addr';
      /** `<ip>:<port>` with the IP in canonical form, `[v6]:port` for IPv6. */
      key: string;
      addr: net.TcpAddress;
    };

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PolicyRequestError(`${field} ${port} is not a port (1 to 65535)`);
}

/** Reads a PortSpec. */
export function inboundTarget(spec: { workload: string; port: number }): InboundTarget {
  checkPort(spec.port, 'port');
  try {
    return { workload: parseWorkloadRef(spec.workload), port: spec.port };
  } catch (err) {
    throw new PolicyRequestError((err as Error).message);
  }
}

/** Reads the source_workload of a TrafficSpec: undefined when empty (a caller of no known namespace). */
export function sourceWorkload(text: string): WorkloadRef | undefined {
  if (text === '') return undefined;
  try {
    return parseWorkloadRef(text);
  } catch (err) {
    throw new PolicyRequestError(`source_workload: ${(err as Error).message}`);
  }
}

/** The canonical text of an IPAddress, or undefined when it holds none. */
export function ipText(ip: net.IPAddress | undefined): string | undefined {
  if (ip?.ip?.$case === 'ipv4') return formatIp({ family: 4, value: ip.ip.ipv4 >>> 0 });
  if (ip?.ip?.$case === 'ipv6') return formatIp({ family: 6, high: BigInt.asUintN(64, ip.ip.ipv6.first), low: BigInt.asUintN(64, ip.ip.ipv6.last) });
  return undefined;
}

/** `10.0.0.1:80`, `[fd00::1]:80`: the key the address index holds addresses by. */
export const addrKey = addressKey;

/**
 * Reads a service authority as a proxy sends it: `web.shop.svc.cluster.local:80`,
 * and the short forms `web.shop.svc:80` and `web.shop:80` (port 80 when absent).
 * A name that is not a service of the cluster is {@link NotAServiceError}; a bad
 * port is {@link PolicyRequestError}.
 */
export function parseAuthority(authority: string, clusterDomain: string): ServiceTarget {
  if (authority.length === 0) throw new PolicyRequestError('target: authority is empty');
  if (authority.length > 300) throw new PolicyRequestError(`target: authority is ${authority.length} characters long (at most 300)`);
  let host = authority;
  let port = '';
  const colon = authority.lastIndexOf(':');
  if (colon !== -1) {
    host = authority.slice(0, colon);
    port = authority.slice(colon);
    const p = port.slice(1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new PolicyRequestError(`target: invalid port ${JSON.stringify(p)} in authority ${JSON.stringify(authority)}`);
  }
  host = host.replace(/\.$/, '');
  const lower = host.toLowerCase();
  if (lower.endsWith('.svc')) host = `${host}.${clusterDomain}`;
  else if (!lower.endsWith(`.svc.${clusterDomain}`) && lower.split('.').length === 2) host = `${host}.svc.${clusterDomain}`;
  try {
    return parseDestinationPath(`${host}${port}`, clusterDomain);
  } catch (err) {
    if (err instanceof DestinationPathError) throw new NotAServiceError(`authority ${JSON.stringify(authority)} is not a service of this cluster: ${err.message}`);
    throw err;
  }
}

/** Reads the target of a TrafficSpec. */
export function outboundTarget(target: { $case: 'addr'; addr: net.TcpAddress } | { $case: 'authority'; authority: string } | undefined, clusterDomain: string): OutboundTarget {
  if (!target) throw new PolicyRequestError('target is missing: set addr (IP and port) or authority (<service>.<namespace>.svc.<cluster-domain>:<port>)');
  if (target.$case === 'authority') return { kind: 'service', service: parseAuthority(target.authority, clusterDomain) };
  const ip = ipText(target.addr.ip);
  if (ip === undefined) throw new PolicyRequestError('target.addr has no IP address');
  checkPort(target.addr.port, 'target.addr.port');
  return { kind: 'addr', key: addrKey(ip, target.addr.port), addr: target.addr };
}
