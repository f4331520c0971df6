import type {
  AuthorizationPolicy,
  GrpcRoute,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  HttpRoute,
  MeshTLSAuthentication,
  Namespace,
  NetworkAuthentication,
  Server,
  Service,
  Workload,
} from '@meshbus/manifests';
import { mergeWorkloads, readKey } from './resource-keys.js';
import type { PolicyInputs } from './api.js';

/** A route with a parentRef to a Server or a Service. */
export type Route = HttpRoute | GrpcRoute;

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * The inputs, indexed the ways the computation looks them up. Built anew
 * for each update (one pass over the inputs, no policy work); every list
 * keeps the inputs' namespace and name order.
 */
export class Lookup {
  readonly workloads: Map<string, Workload>;
  readonly workloadsByNamespace = new Map<string, Workload[]>();
  readonly byKey = new Map<string, unknown>();
  readonly serversByNamespace = new Map<string, Server[]>();
  readonly authorizationsByTarget = new Map<string, AuthorizationPolicy[]>();
  readonly routesByParent = new Map<string, Route[]>();
  readonly rateLimitsByServer = new Map<string, HttpLocalRateLimitPolicy[]>();

  constructor(readonly inputs: PolicyInputs) {
    const r = inputs.resources;
    this.workloads = mergeWorkloads(r.workloads, inputs.registered);
    for (const w of this.workloads.values()) {
      push(this.workloadsByNamespace, w.namespace, w);
      this.byKey.set(readKey.resource('Workload', w.namespace, w.name), w);
    }
    for (const ns of r.namespaces) this.byKey.set(readKey.resource('Namespace', ns.name, ns.name), ns);
    for (const s of r.services) this.byKey.set(readKey.resource('Service', s.namespace, s.name), s);
    for (const list of [r.servers, r.authorizationPolicies, r.meshTLSAuthentications, r.networkAuthentications, r.httpRoutes, r.grpcRoutes, r.rateLimitPolicies, r.faultInjections]) {
      for (const p of list) this.byKey.set(readKey.resource(p.kind, p.namespace, p.name), p);
    }
    for (const s of r.servers) push(this.serversByNamespace, s.namespace, s);
    for (const a of r.authorizationPolicies) push(this.authorizationsByTarget, targetKeyOf(a), a);
    for (const route of [...r.httpRoutes, ...r.grpcRoutes]) for (const key of parentKeysOf(route)) push(this.routesByParent, key, route);
    for (const l of r.rateLimitPolicies) push(this.rateLimitsByServer, rateLimitKeyOf(l), l);
  }
}

/** The read key an AuthorizationPolicy is found under. */
export function targetKeyOf(policy: AuthorizationPolicy): string {
  return readKey.authorizationsOf(policy.targetRef.kind, policy.targetRef.namespace ?? policy.namespace, policy.targetRef.name);
}

/** The read keys a route is found under: one per Server or Service parent. */
export function parentKeysOf(route: Route): string[] {
  const keys = new Set<string>();
  for (const parent of route.parentRefs) {
    if (parent.kind !== 'Server' && parent.kind !== 'Service') continue;
    keys.add(readKey.routesOf(parent.kind, parent.namespace ?? route.namespace, parent.name));
  }
  return [...keys];
}

export function rateLimitKeyOf(policy: HttpLocalRateLimitPolicy): string {
  return readKey.rateLimitsOf(policy.targetRef.namespace ?? policy.namespace, policy.targetRef.name);
}

/** Kinds looked up by name, with their types. */
interface ByKind {
  Workload: Workload;
  Namespace: Namespace;
  Service: Service;
  Server: Server;
  AuthorizationPolicy: AuthorizationPolicy;
  MeshTLSAuthentication: MeshTLSAuthentication;
  NetworkAuthentication: NetworkAuthentication;
  HTTPRoute: HttpRoute;
  GRPCRoute: GrpcRoute;
  HTTPLocalRateLimitPolicy: HttpLocalRateLimitPolicy;
  HTTPFaultInjection: HttpFaultInjection;
}

/** Reads the {@link Lookup} and records every read key in `reads`. */
export class Reader {
  constructor(
    private readonly lookup: Lookup,
    readonly reads: Set<string>,
  ) {}

  get<K extends keyof ByKind>(kind: K, namespace: string, name: string): ByKind[K] | undefined {
    const key = readKey.resource(kind, namespace, name);
    this.reads.add(key);
    return this.lookup.byKey.get(key) as ByKind[K] | undefined;
  }

  /** Servers of `namespace` (reads nothing: which of them select a workload is a read of {@link readKey.serversSelecting}). */
  serversIn(namespace: string): readonly Server[] {
    return this.lookup.serversByNamespace.get(namespace) ?? [];
  }

  authorizationsOf(kind: string, namespace: string, name: string): readonly AuthorizationPolicy[] {
    const key = readKey.authorizationsOf(kind, namespace, name);
    this.reads.add(key);
    return this.lookup.authorizationsByTarget.get(key) ?? [];
  }

  routesOf(kind: 'Server' | 'Service', namespace: string, name: string): readonly Route[] {
    const key = readKey.routesOf(kind, namespace, name);
    this.reads.add(key);
    return this.lookup.routesByParent.get(key) ?? [];
  }

  rateLimitsOf(namespace: string, server: string): readonly HttpLocalRateLimitPolicy[] {
    const key = readKey.rateLimitsOf(namespace, server);
    this.reads.add(key);
    return this.lookup.rateLimitsByServer.get(key) ?? [];
  }

  read(key: string): void {
    this.reads.add(key);
  }
}

