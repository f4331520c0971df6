import { canonicalIp } from '@meshbus/core';
import { parseStateSubject, type Endpoint, type EndpointSet, type OutboundPolicy } from '@meshbus/bus-schemas';
import { addressKey } from './destination-path.js';

/** A service port, as an address of it names it. */
export interface ServicePortRef {
  namespace: string;
  service: string;
  port: number;
}

/** An endpoint of a service port, as the endpoint set publishes it. */
export interface EndpointClaim {
  endpoint: Endpoint;
  /** The service port whose set lists it. */
  set: ServicePortRef;
  /** The service port carries opaque TCP (the set's `opaque`). */
  opaque: boolean;
}

/**
 * What the gateway knows of an `ip:port`: a cluster IP of a service port, an
 * endpoint of a service (a workload's address), or nothing.
 */
export type AddressAnswer =
  | { kind: 'service'; service: ServicePortRef }
  | { kind: 'endpoint'; claim: EndpointClaim }
  | { kind: 'unknown' };

const unknown: AddressAnswer = { kind: 'unknown' };

/**
 * Who claims each key: several claimants (state subjects) may claim one key,
 * and the first subject by name wins, so that a mistake of the input (two
 * services with one cluster IP, one workload address in two sets) gives the
 * same answer on every gateway and after every restart.
 */
class Claims<T> {
  private readonly byKey = new Map<string, Map<string, T>>();
  private readonly bySubject = new Map<string, Map<string, T>>();

  /**
   * Replaces what `subject` claims; returns the keys whose claims changed
   * (`same` tells whether a claim stayed the same).
   */
  replace(subject: string, next: Map<string, T>, same: (a: T, b: T) => boolean): string[] {
    const before = this.bySubject.get(subject);
    const changed: string[] = [];
    if (before) {
      for (const [key, old] of before) {
        const now = next.get(key);
        if (now === undefined) {
          changed.push(key);
          const claims = this.byKey.get(key)!;
          claims.delete(subject);
          if (claims.size === 0) this.byKey.delete(key);
        } else if (!same(old, now)) {
          changed.push(key);
        }
      }
    }
    for (const [key, value] of next) {
      if (!before?.has(key)) changed.push(key);
      let claims = this.byKey.get(key);
      if (!claims) {
        claims = new Map();
        this.byKey.set(key, claims);
      }
      // The newest value is kept even when equal, so that the old state can be collected.
      claims.set(subject, value);
    }
    if (next.size > 0) this.bySubject.set(subject, next);
    else this.bySubject.delete(subject);
    return changed;
  }

  winner(key: string): T | undefined {
    const claims = this.byKey.get(key);
    if (!claims) return undefined;
    if (claims.size === 1) return claims.values().next().value;
    let best: string | undefined;
    for (const s of claims.keys()) if (best === undefined || s < best) best = s;
    return claims.get(best!);
  }

  get size(): number {
    return this.byKey.size;
  }
}

const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (a![k] !== b?.[k]) return false;
  return true;
};

/** Whether two endpoints give a proxy the same answer (every field of the schema). */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.weight === b.weight &&
    a.identity === b.identity &&
    a.serverName === b.serverName &&
    a.protocolHint === b.protocolHint &&
    a.opaqueTransportPort === b.opaqueTransportPort &&
    a.zone === b.zone &&
    a.workload?.kind === b.workload?.kind &&
    a.workload?.namespace === b.workload?.namespace &&
    a.workload?.name === b.workload?.name &&
    sameLabels(a.labels, b.labels)
  );
}

const sameClaim = (a: EndpointClaim, b: EndpointClaim) => a.opaque === b.opaque && sameEndpoint(a.endpoint, b.endpoint);
const sameService = (a: ServicePortRef, b: ServicePortRef) => a.namespace === b.namespace && a.service === b.service && a.port === b.port;

/** The key of an address as the index holds it; undefined for text that is not an IP address. */
function keyOf(address: string, port: number): string | undefined {
  try {
    return addressKey(canonicalIp(address), port);
  } catch {
    return undefined;
  }
}

/**
 * Every address the bus state gives meaning to, as `ip:port` keys: the
 * cluster IPs of service ports (from the outbound policies, which carry the
 * Service's cluster IPs) and the endpoints of every service (from the
 * endpoint sets). Fed with every change of the state view; pure, no I/O.
 */
export class AddressIndex {
  private readonly services = new Claims<ServicePortRef>();
  private readonly endpoints = new Claims<EndpointClaim>();

  /**
   * Applies a change of the state view (other subjects than endpoint sets
   * and outbound policies are ignored). Returns the keys whose answer may
   * have changed, including every cluster IP of a changed outbound policy
   * (whose answer is the policy itself).
   */
  apply(natsSubject: string, data: unknown): ReadonlySet<string> {
    const kind = parseStateSubject(natsSubject)?.kind;
    if (kind === 'endpoints') return new Set(this.endpoints.replace(natsSubject, endpointClaims(data as EndpointSet | undefined), sameClaim));
    if (kind === 'outbound-policy') {
      const policy = data as OutboundPolicy | undefined;
      const claims = serviceClaims(policy);
      const changed = new Set(this.services.replace(natsSubject, claims, sameService));
      for (const key of claims.keys()) changed.add(key);
      return changed;
    }
    return none;
  }

  /** What `key` (`ip:port`, `[v6]:port`, canonical IP) is: a service's cluster IP first, then an endpoint. */
  resolve(key: string): AddressAnswer {
    const service = this.services.winner(key);
    if (service) return { kind: 'service', service };
    const claim = this.endpoints.winner(key);
    if (claim) return { kind: 'endpoint', claim };
    return unknown;
  }

  /** Keys of cluster IPs, and of endpoints, held. */
  get size(): { services: number; endpoints: number } {
    return { services: this.services.size, endpoints: this.endpoints.size };
  }
}

const none: ReadonlySet<string> = new Set();

function endpointClaims(set: EndpointSet | undefined): Map<string, EndpointClaim> {
  const claims = new Map<string, EndpointClaim>();
  if (!set) return claims;
  const ref: ServicePortRef = { namespace: set.namespace, service: set.service, port: set.port };
  const opaque = set.opaque ?? false;
  for (const endpoint of set.endpoints) {
    const key = keyOf(endpoint.address, endpoint.port);
    // An address that does not parse cannot be asked for; a second entry of one address keeps the first.
    if (key !== undefined && !claims.has(key)) claims.set(key, { endpoint, set: ref, opaque });
  }
  return claims;
}

function serviceClaims(policy: OutboundPolicy | undefined): Map<string, ServicePortRef> {
  const claims = new Map<string, ServicePortRef>();
  if (!policy) return claims;
  const ref: ServicePortRef = { namespace: policy.namespace, service: policy.service, port: policy.port };
  for (const address of policy.addresses) {
    const key = keyOf(address, policy.port);
    if (key !== undefined) claims.set(key, ref);
  }
  return claims;
}
