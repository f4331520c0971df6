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
 * same answer on every gateway and after every restart. Each claimant holds
 * its items and one context shared by them (the set an endpoint is in).
 */
class Claims<T, C> {
  /** Key to the subject claiming it, or the subjects when there are several. */
  private readonly byKey = new Map<string, string | string[]>();
  private readonly bySubject = new Map<string, { context: C; items: Map<string, T> }>();

  /**
   * Replaces what `subject` claims; returns the keys whose claims changed
   * (`same` tells whether an item stayed the same; a changed context changes every key).
   */
  replace(subject: string, context: C | undefined, items: Map<string, T>, same: (a: T, b: T) => boolean, sameContext: (a: C, b: C) => boolean): string[] {
    const before = this.bySubject.get(subject);
    const changed: string[] = [];
    const contextChanged = before !== undefined && context !== undefined && !sameContext(before.context, context);
    if (before) {
      for (const [key, old] of before.items) {
        const now = items.get(key);
        if (now === undefined) {
          changed.push(key);
          this.removeClaimant(key, subject);
        } else if (contextChanged || !same(old, now)) {
          changed.push(key);
        }
      }
    }
    for (const key of items.keys()) {
      if (before?.items.has(key)) continue;
      changed.push(key);
      this.addClaimant(key, subject);
    }
    if (items.size > 0 && context !== undefined) this.bySubject.set(subject, { context, items });
    else this.bySubject.delete(subject);
    return changed;
  }

  winner(key: string): { item: T; context: C } | undefined {
    const claimants = this.byKey.get(key);
    if (claimants === undefined) return undefined;
    let subject: string;
    if (typeof claimants === 'string') subject = claimants;
    else subject = claimants.reduce((a, b) => (b < a ? b : a));
    const claim = this.bySubject.get(subject)!;
    return { item: claim.items.get(key)!, context: claim.context };
  }

  get size(): number {
    return this.byKey.size;
  }

  private addClaimant(key: string, subject: string): void {
    const claimants = this.byKey.get(key);
    if (claimants === undefined) this.byKey.set(key, subject);
    else if (typeof claimants === 'string') this.byKey.set(key, [claimants, subject]);
    else claimants.push(subject);
  }

  private removeClaimant(key: string, subject: string): void {
    const claimants = this.byKey.get(key);
    if (claimants === subject) this.byKey.delete(key);
    else if (Array.isArray(claimants)) {
      const rest = claimants.filter((s) => s !== subject);
      this.byKey.set(key, rest.length === 1 ? rest[0]! : rest);
    }
  }
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === undefined || b === undefined) return (a === undefined || isEmpty(a)) && (b === undefined || isEmpty(b));
  let count = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    count++;
  }
  for (const _ in b) count--;
  return count === 0;
}

function isEmpty(labels: Record<string, string>): boolean {
  for (const _ in labels) return false;
  return true;
}

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

/** What every endpoint of a set shares. */
interface SetContext {
  set: ServicePortRef;
  opaque: boolean;
}

const sameRef = (a: ServicePortRef, b: ServicePortRef) => a.namespace === b.namespace && a.service === b.service && a.port === b.port;
const sameSet = (a: SetContext, b: SetContext) => a.opaque === b.opaque && sameRef(a.set, b.set);
const always = () => true;

/** A dotted quad without leading zeros: already the canonical form of an IPv4 address. */
const canonicalV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The key of an address as the index holds it; undefined for text that is not an IP address. */
function keyOf(address: string, port: number): string | undefined {
  // Sets hold up to 100,000 endpoints, nearly always IPv4 in canonical form: skip parsing those.
  if (canonicalV4.test(address)) return `${address}:${port}`;
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
  private readonly services = new Claims<true, ServicePortRef>();
  private readonly endpoints = new Claims<Endpoint, SetContext>();

  /**
   * Applies a change of the state view (other subjects than endpoint sets
   * and outbound policies are ignored). Returns the keys whose answer may
   * have changed, including every cluster IP of a changed outbound policy
   * (whose answer is the policy itself).
   */
  apply(natsSubject: string, data: unknown): ReadonlySet<string> {
    const kind = parseStateSubject(natsSubject)?.kind;
    if (kind === 'endpoints') {
      const set = data as EndpointSet | undefined;
      const context = set ? { set: { namespace: set.namespace, service: set.service, port: set.port }, opaque: set.opaque ?? false } : undefined;
      return new Set(this.endpoints.replace(natsSubject, context, endpointKeys(set), sameEndpoint, sameSet));
    }
    if (kind === 'outbound-policy') {
      const policy = data as OutboundPolicy | undefined;
      const ref = policy ? { namespace: policy.namespace, service: policy.service, port: policy.port } : undefined;
      const keys = serviceKeys(policy);
      const changed = new Set(this.services.replace(natsSubject, ref, keys, always, sameRef));
      for (const key of keys.keys()) changed.add(key);
      return changed;
    }
    return none;
  }

  /** What `key` (`ip:port`, `[v6]:port`, canonical IP) is: a service's cluster IP first, then an endpoint. */
  resolve(key: string): AddressAnswer {
    const service = this.services.winner(key);
    if (service) return { kind: 'service', service: service.context };
    const found = this.endpoints.winner(key);
    if (found) return { kind: 'endpoint', claim: { endpoint: found.item, set: found.context.set, opaque: found.context.opaque } };
    return unknown;
  }

  /** Keys of cluster IPs, and of endpoints, held. */
  get size(): { services: number; endpoints: number } {
    return { services: this.services.size, endpoints: this.endpoints.size };
  }
}

const none: ReadonlySet<string> = new Set();

function endpointKeys(set: EndpointSet | undefined): Map<string, Endpoint> {
  const endpoints = new Map<string, Endpoint>();
  for (const endpoint of set?.endpoints ?? []) {
    const key = keyOf(endpoint.address, endpoint.port);
    // An address that does not parse cannot be asked for; a second entry of one address keeps the first.
    if (key !== undefined && !endpoints.has(key)) endpoints.set(key, endpoint);
  }
  return endpoints;
}

function serviceKeys(policy: OutboundPolicy | undefined): Map<string, true> {
  const keys = new Map<string, true>();
  for (const address of policy?.addresses ?? []) {
    const key = keyOf(address, policy!.port);
    if (key !== undefined) keys.set(key, true);
  }
  return keys;
}
