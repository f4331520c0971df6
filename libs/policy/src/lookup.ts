import type {
  AuthorizationPolicy,
  GrpcRoute,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  HttpRoute,
  MeshTLSAuthentication,
  Namespace,
  NetworkAuthentication,
  PolicyResource,
  Server,
  Service,
  Workload,
} from '@meshbus/manifests';
import { compareStrings, readKey } from './resource-keys.js';
import { readinessKey } from './api.js';

/** A route with a parentRef to a Server or a Service. */
export type Route = HttpRoute | GrpcRoute;

/** What the lookup holds: the resources the computation reads. */
export type LookupResource = Workload | Namespace | Service | PolicyResource;

type Named = { readonly namespace: string; readonly name: string };
const byName = (a: Named, b: Named): number => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
/** HTTPRoutes before GRPCRoutes, each in namespace and name order. */
const byKindAndName = (a: Route, b: Route): number => (a.kind === b.kind ? 0 : a.kind === 'HTTPRoute' ? -1 : 1) || byName(a, b);

/** Puts `item` into the list of `key` in `compare` order, in place of an item that compares equal. */
function putSorted<T>(map: Map<string, T[]>, key: string, item: T, compare: (a: T, b: T) => number): void {
  const list = map.get(key);
  if (!list) {
    map.set(key, [item]);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(list[mid]!, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo < list.length && compare(list[lo]!, item) === 0) list[lo] = item;
  else list.splice(lo, 0, item);
}

/** Takes the item that compares equal to `item` out of the list of `key`. */
function takeOut<T>(map: Map<string, T[]>, key: string, item: T, compare: (a: T, b: T) => number): void {
  const list = map.get(key);
  const at = list?.findIndex((x) => compare(x, item) === 0) ?? -1;
  if (!list || at === -1) return;
  list.splice(at, 1);
  if (list.length === 0) map.delete(key);
}

/** The read key of a resource by its kind, namespace and name. */
export function resourceKeyOf(resource: LookupResource): string {
  return resource.kind === 'Namespace' ? readKey.resource('Namespace', resource.name, resource.name) : readKey.resource(resource.kind, resource.namespace, resource.name);
}

/**
 * The inputs, indexed the ways the computation looks them up, kept up to
 * date one resource at a time ({@link Lookup.replace}); every list is in
 * namespace and name order (HTTPRoutes before GRPCRoutes), the order of the
 * input collections.
 */
export class Lookup {
  /** Workloads by `<namespace>/<name>` (a manifest Workload over a registered one). */
  readonly workloads = new Map<string, Workload>();
  /** Workloads by namespace, then name. */
  readonly workloadsByNamespace = new Map<string, Map<string, Workload>>();
  /** Services by `<namespace>/<name>`. */
  readonly services = new Map<string, Service>();
  /** Every resource by {@link readKey.resource}. */
  readonly byKey = new Map<string, LookupResource>();
  readonly serversByNamespace = new Map<string, Server[]>();
  readonly authorizationsByTarget = new Map<string, AuthorizationPolicy[]>();
  readonly routesByParent = new Map<string, Route[]>();
  readonly rateLimitsByServer = new Map<string, HttpLocalRateLimitPolicy[]>();
  /** Ready service ports by `readinessKey` (undefined: every port counts as ready). */
  readiness: ReadonlyMap<string, boolean> | undefined;

  /** Puts `after` in place of `before`: the same resource (kind, namespace and name), either absent. */
  replace(before: LookupResource | undefined, after: LookupResource | undefined): void {
    if (before) this.#remove(before, after === undefined);
    if (after) this.#add(after);
  }

  #remove(resource: LookupResource, gone: boolean): void {
    if (gone) this.byKey.delete(resourceKeyOf(resource));
    switch (resource.kind) {
      case 'Workload': {
        if (!gone) break;
        this.workloads.delete(`${resource.namespace}/${resource.name}`);
        const inNamespace = this.workloadsByNamespace.get(resource.namespace);
        inNamespace?.delete(resource.name);
        if (inNamespace?.size === 0) this.workloadsByNamespace.delete(resource.namespace);
        break;
      }
      case 'Service':
        if (gone) this.services.delete(`${resource.namespace}/${resource.name}`);
        break;
      case 'Server':
        takeOut(this.serversByNamespace, resource.namespace, resource, byName);
        break;
      case 'AuthorizationPolicy':
        takeOut(this.authorizationsByTarget, targetKeyOf(resource), resource, byName);
        break;
      case 'HTTPRoute':
      case 'GRPCRoute':
        for (const key of parentKeysOf(resource)) takeOut(this.routesByParent, key, resource, byKindAndName);
        break;
      case 'HTTPLocalRateLimitPolicy':
        takeOut(this.rateLimitsByServer, rateLimitKeyOf(resource), resource, byName);
        break;
      default:
        break;
    }
  }

  #add(resource: LookupResource): void {
    this.byKey.set(resourceKeyOf(resource), resource);
    switch (resource.kind) {
      case 'Workload': {
        this.workloads.set(`${resource.namespace}/${resource.name}`, resource);
        let inNamespace = this.workloadsByNamespace.get(resource.namespace);
        if (!inNamespace) this.workloadsByNamespace.set(resource.namespace, (inNamespace = new Map()));
        inNamespace.set(resource.name, resource);
        break;
      }
      case 'Service':
        this.services.set(`${resource.namespace}/${resource.name}`, resource);
        break;
      case 'Server':
        putSorted(this.serversByNamespace, resource.namespace, resource, byName);
        break;
      case 'AuthorizationPolicy':
        putSorted(this.authorizationsByTarget, targetKeyOf(resource), resource, byName);
        break;
      case 'HTTPRoute':
      case 'GRPCRoute':
        for (const key of parentKeysOf(resource)) putSorted(this.routesByParent, key, resource, byKindAndName);
        break;
      case 'HTTPLocalRateLimitPolicy':
        putSorted(this.rateLimitsByServer, rateLimitKeyOf(resource), resource, byName);
        break;
      default:
        break;
    }
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

  /** Whether port `port` of Service `namespace/name` has a ready endpoint. */
  ready(namespace: string, name: string, port: number): boolean {
    const key = readinessKey(namespace, name, port);
    this.reads.add(readKey.readiness(key));
    return this.lookup.readiness === undefined || this.lookup.readiness.get(key) === true;
  }

  read(key: string): void {
    this.reads.add(key);
  }
}

