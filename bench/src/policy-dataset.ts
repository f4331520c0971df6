/*
 * The mesh the policy benchmark computes: typed, normalised resources as the
 * manifest decoders produce them, generated from a few counts so that every
 * run (and every test) sees the same data set.
 *
 * Shape, per service i (i = 0..services-1) in namespace ns-(i mod namespaces):
 * - a Service `svc-iiii` selecting `app: svc-iiii`, port 80 → the workload port `http`;
 * - `workloadsPerService` Workloads on ports 8080 (`http`) and 9990 (`admin`, a readiness probe), one service account;
 * - a Server on `http` (HTTP/1, HTTP/2 or protocol detection, by i);
 * - a MeshTLSAuthentication naming the service accounts of two other services of the namespace, and a namespace suffix every seventh;
 * - HTTPRoutes: an `/api` route on the Server (method and header matches) per service, then per service either a
 *   `/static` route on the Server or a canary split on the Service (90/10, retries and timeouts), then the other;
 * - AuthorizationPolicies: one per namespace targets the Namespace (from the monitoring network), the rest go
 *   service by service to the Server (three in four) or the `/api` route (one in four), then the other target.
 * Names are zero-padded so that name order is numeric order.
 */
import type {
  AuthorizationPolicy,
  HttpRoute,
  MeshResources,
  MeshTLSAuthentication,
  Namespace,
  NetworkAuthentication,
  ProxyProtocol,
  Server,
  Service,
  ServiceAccount,
  Workload,
} from '@meshbus/manifests';
import type { PolicyInputs, PolicySettings } from '@meshbus/policy';

/** Sizes of a {@link policyDataSet}. */
export interface PolicyDataSetSize {
  readonly namespaces: number;
  /** One Server, one MeshTLSAuthentication and one Service per service. */
  readonly services: number;
  readonly workloadsPerService: number;
  readonly httpRoutes: number;
  readonly authorizationPolicies: number;
}

/** The sizes of issue 7: 1,000 Servers, 1,000 AuthorizationPolicies, 2,000 HTTPRoutes, 5,000 workloads. */
export const policyBenchSize: PolicyDataSetSize = { namespaces: 50, services: 1000, workloadsPerService: 5, httpRoutes: 2000, authorizationPolicies: 1000 };

/** Settings of the computation in the benchmark (the policy service's defaults). */
export const policyBenchSettings: PolicySettings = {
  clusterDomain: 'cluster.local',
  identityDomain: 'identity.meshbus.cluster.local',
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['127.0.0.1/32'],
  detectTimeoutMs: 10_000,
};

/** A generated data set, with the names the change rounds pick from. */
export interface PolicyDataSet {
  readonly size: PolicyDataSetSize;
  readonly inputs: PolicyInputs;
  /** Services in index order: namespace and name. */
  readonly services: readonly { readonly namespace: string; readonly name: string }[];
  /** Inbound HTTPRoutes (parent a Server), in index order. */
  readonly inboundRoutes: readonly { readonly namespace: string; readonly name: string; readonly service: number }[];
  /** AuthorizationPolicies that target a Server, in index order. */
  readonly serverAuthorizations: readonly { readonly namespace: string; readonly name: string; readonly service: number }[];
}

const pad = (i: number, width = 4) => String(i).padStart(width, '0');
const namespaceName = (n: number) => `ns-${pad(n, 2)}`;
export const serviceName = (i: number) => `svc-${pad(i)}`;
export const workloadName = (i: number, w: number) => `${serviceName(i)}-${w}`;
export const serverName = (i: number) => `${serviceName(i)}-http`;
export const meshTlsName = (i: number) => `${serviceName(i)}-clients`;
const monitoringName = 'monitoring';

/** Port the Servers select (named `http` on every workload). */
export const policyBenchPort = 8080;

const meta = (namespace: string, name: string, apiVersion: string, file: string) => ({ namespace, name, labels: {}, annotations: {}, apiVersion, file });

function compareByName(a: { namespace?: string; name: string }, b: { namespace?: string; name: string }): number {
  const na = a.namespace ?? '';
  const nb = b.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
const sorted = <T extends { namespace?: string; name: string }>(list: T[]): T[] => list.sort(compareByName);

const protocols: readonly ProxyProtocol[] = ['HTTP/1', 'HTTP/2', 'unknown'];

/** The Server of service `i`, with the protocol given (the change rounds edit it). */
export function benchServer(i: number, namespaces: number, proxyProtocol: ProxyProtocol = protocols[i % protocols.length]!): Server {
  const ns = namespaceName(i % namespaces);
  return {
    kind: 'Server',
    ...meta(ns, serverName(i), 'policy.linkerd.io/v1beta3', `${ns}/${serviceName(i)}.yaml`),
    port: 'http',
    podSelector: { matchLabels: { app: serviceName(i) }, matchExpressions: [] },
    proxyProtocol,
  };
}

/** An inbound HTTPRoute of service `i`; `variant` 0 is the `/api` route, 1 the `/static` one; `prefix` overrides the path. */
export function benchInboundRoute(i: number, variant: number, namespaces: number, prefix?: string): HttpRoute {
  const ns = namespaceName(i % namespaces);
  const name = `${serviceName(i)}-${variant === 0 ? 'api' : 'static'}`;
  const path = prefix ?? (variant === 0 ? '/api/v1' : '/static');
  return {
    kind: 'HTTPRoute',
    ...meta(ns, name, 'gateway.networking.k8s.io/v1', `${ns}/${serviceName(i)}-routes.yaml`),
    parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: serverName(i) }],
    hostnames: [],
    rules: [
      {
        matches:
          variant === 0
            ? [
                { path: { type: 'PathPrefix', value: path }, headers: [], queryParams: [], method: 'GET' },
                { path: { type: 'PathPrefix', value: path }, headers: [{ type: 'Exact', name: 'x-tenant', value: `t-${i % 7}` }], queryParams: [], method: 'POST' },
              ]
            : [{ path: { type: 'PathPrefix', value: path }, headers: [], queryParams: [] }],
        filters: [],
        backendRefs: [],
      },
    ],
  };
}

/** The outbound canary route of service `i`: 90 % to itself, 10 % to the next service of its namespace. */
function benchOutboundRoute(i: number, size: PolicyDataSetSize): HttpRoute {
  const ns = namespaceName(i % size.namespaces);
  const canary = serviceName((i + size.namespaces) % size.services);
  return {
    kind: 'HTTPRoute',
    ...meta(ns, `${serviceName(i)}-split`, 'gateway.networking.k8s.io/v1', `${ns}/${serviceName(i)}-routes.yaml`),
    parentRefs: [{ group: 'core', kind: 'Service', name: serviceName(i), port: 80 }],
    hostnames: [],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
        filters: [],
        backendRefs: [
          { group: '', kind: 'Service', name: serviceName(i), port: 80, weight: 90, filters: [] },
          { group: '', kind: 'Service', name: canary, port: 80, weight: 10, filters: [] },
        ],
        timeouts: { requestMs: 5000, backendRequestMs: 1000 },
        retry: { attempts: 2, codes: [{ start: 502, end: 504 }], grpcCodes: [], backoffMs: 50 },
      },
    ],
  };
}

/** An AuthorizationPolicy on service `i`'s Server or route, requiring MeshTLSAuthentication `authn` (service index). */
export function benchAuthorization(name: string, i: number, namespaces: number, target: { kind: 'Server' | 'HTTPRoute'; name: string }, authn: number): AuthorizationPolicy {
  const ns = namespaceName(i % namespaces);
  return {
    kind: 'AuthorizationPolicy',
    ...meta(ns, name, 'policy.linkerd.io/v1alpha1', `${ns}/${serviceName(i)}-authz.yaml`),
    targetRef: { group: target.kind === 'Server' ? 'policy.linkerd.io' : 'gateway.networking.k8s.io', kind: target.kind, name: target.name },
    requiredAuthenticationRefs: [{ group: 'policy.linkerd.io', kind: 'MeshTLSAuthentication', name: meshTlsName(authn) }],
  };
}

/** Workload `w` of service `i`; `app` overrides its app label (the change rounds move workloads between Servers). */
export function benchWorkload(i: number, w: number, namespaces: number, app: string = serviceName(i)): Workload {
  return {
    kind: 'Workload',
    namespace: namespaceName(i % namespaces),
    name: workloadName(i, w),
    labels: { app, version: w === 0 ? 'v2' : 'v1' },
    annotations: {},
    address: `10.${1 + (i >> 8)}.${i & 255}.${w + 1}`,
    ports: [
      { name: 'http', port: policyBenchPort },
      { name: 'admin', port: 9990 },
    ],
    serviceAccount: serviceName(i),
    ready: true,
    meshed: true,
    weight: 10_000,
    opaquePorts: [],
    probes: [{ port: 'admin', path: '/ready' }],
  };
}

function check(size: PolicyDataSetSize): void {
  const whole = (n: number, what: string, min: number) => {
    if (!Number.isInteger(n) || n < min) throw new RangeError(`${what} must be a whole number of at least ${min}, got ${n}`);
  };
  whole(size.namespaces, 'namespaces', 1);
  whole(size.services, 'services', 1);
  whole(size.workloadsPerService, 'workloadsPerService', 1);
  whole(size.httpRoutes, 'httpRoutes', 0);
  whole(size.authorizationPolicies, 'authorizationPolicies', 0);
  if (size.services < size.namespaces) throw new RangeError(`services (${size.services}) must be at least namespaces (${size.namespaces})`);
  if (size.httpRoutes > 3 * size.services) throw new RangeError(`httpRoutes (${size.httpRoutes}) must be at most 3 per service (${3 * size.services})`);
  if (size.authorizationPolicies > size.namespaces + 3 * size.services) {
    throw new RangeError(`authorizationPolicies (${size.authorizationPolicies}) must be at most one per namespace and 3 per service (${size.namespaces + 3 * size.services})`);
  }
}

/** Generates the data set of `size`: the same resources, in the same order, on every call. */
export function policyDataSet(size: PolicyDataSetSize = policyBenchSize): PolicyDataSet {
  check(size);
  const { namespaces: nsCount, services: count } = size;
  const namespaces: Namespace[] = [];
  const networkAuthentications: NetworkAuthentication[] = [];
  for (let n = 0; n < nsCount; n++) {
    const name = namespaceName(n);
    // Every fifth namespace denies by default: its workloads rely on their Servers' policies.
    namespaces.push({ kind: 'Namespace', name, labels: {}, annotations: n % 5 === 4 ? { 'config.linkerd.io/default-inbound-policy': 'deny' } : {} });
    networkAuthentications.push({
      kind: 'NetworkAuthentication',
      ...meta(name, monitoringName, 'policy.linkerd.io/v1alpha1', `${name}/namespace.yaml`),
      networks: [{ cidr: '10.200.0.0/16', except: ['10.200.99.0/24'] }],
    });
  }

  const services: Service[] = [];
  const serviceAccounts: ServiceAccount[] = [];
  const workloads: Workload[] = [];
  const servers: Server[] = [];
  const meshTLSAuthentications: MeshTLSAuthentication[] = [];
  for (let i = 0; i < count; i++) {
    const ns = namespaceName(i % nsCount);
    const name = serviceName(i);
    services.push({
      kind: 'Service',
      namespace: ns,
      name,
      labels: {},
      annotations: {},
      selector: { app: name },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      opaquePorts: [],
      clusterIPs: [`10.96.${i >> 8}.${i & 255}`],
      traffic: {},
    });
    serviceAccounts.push({ kind: 'ServiceAccount', namespace: ns, name, labels: {}, annotations: {} });
    for (let w = 0; w < size.workloadsPerService; w++) workloads.push(benchWorkload(i, w, nsCount));
    servers.push(benchServer(i, nsCount));
    // Callers: the two services after this one in the same namespace.
    const caller = (k: number) => serviceName((i + k * nsCount) % count);
    meshTLSAuthentications.push({
      kind: 'MeshTLSAuthentication',
      ...meta(ns, meshTlsName(i), 'policy.linkerd.io/v1alpha1', `${ns}/${name}-authz.yaml`),
      identities: i % 7 === 0 ? [`*.${ns}.serviceaccount.identity.meshbus.cluster.local`] : [],
      identityRefs: [
        { group: '', kind: 'ServiceAccount', name: caller(1) },
        { group: '', kind: 'ServiceAccount', name: caller(2) },
      ],
    });
  }

  // Routes: /api per service, then a /static route or an outbound split (alternating by service), then the other one.
  const httpRoutes: HttpRoute[] = [];
  const inboundRoutes: { namespace: string; name: string; service: number }[] = [];
  for (let r = 0; r < size.httpRoutes; r++) {
    const i = r % count;
    const round = Math.floor(r / count);
    const kind = round === 0 ? 'api' : (round === 1) === (i % 2 === 0) ? 'split' : 'static';
    if (kind === 'split') {
      httpRoutes.push(benchOutboundRoute(i, size));
    } else {
      const route = benchInboundRoute(i, kind === 'api' ? 0 : 1, nsCount);
      httpRoutes.push(route);
      inboundRoutes.push({ namespace: route.namespace, name: route.name, service: i });
    }
  }

  // Authorizations: one per namespace on the Namespace, then per Server, then per inbound route, then a second per Server.
  const authorizationPolicies: AuthorizationPolicy[] = [];
  const serverAuthorizations: { namespace: string; name: string; service: number }[] = [];
  const perNamespace = Math.min(nsCount, size.authorizationPolicies);
  for (let n = 0; n < perNamespace; n++) {
    const ns = namespaceName(n);
    authorizationPolicies.push({
      kind: 'AuthorizationPolicy',
      ...meta(ns, 'monitoring-scrapes', 'policy.linkerd.io/v1alpha1', `${ns}/namespace.yaml`),
      targetRef: { group: 'core', kind: 'Namespace', name: ns },
      requiredAuthenticationRefs: [{ group: 'policy.linkerd.io', kind: 'NetworkAuthentication', name: monitoringName }],
    });
  }
  for (let a = 0; a < size.authorizationPolicies - perNamespace; a++) {
    const i = a % count;
    const round = Math.floor(a / count);
    // Three in four services get a Server-level grant first, the others a grant on their /api route; then the other kind.
    const routeLevel = round < 2 && (round === 0) === (i % 4 === 3) && i < size.httpRoutes;
    if (routeLevel) {
      authorizationPolicies.push(benchAuthorization(`${serviceName(i)}-api-callers`, i, nsCount, { kind: 'HTTPRoute', name: `${serviceName(i)}-api` }, (i + 2 * nsCount) % count));
    } else {
      const name = `${serviceName(i)}-${round < 2 ? 'callers' : 'peers'}`;
      authorizationPolicies.push(benchAuthorization(name, i, nsCount, { kind: 'Server', name: serverName(i) }, round < 2 ? i : (i + nsCount) % count));
      serverAuthorizations.push({ namespace: namespaceName(i % nsCount), name, service: i });
    }
  }

  const resources: MeshResources = {
    namespaces: sorted(namespaces),
    services: sorted(services),
    serviceAccounts: sorted(serviceAccounts),
    workloads: sorted(workloads),
    serviceProfiles: [],
    endpointSlices: [],
    others: [],
    servers: sorted(servers),
    authorizationPolicies: sorted(authorizationPolicies),
    meshTLSAuthentications: sorted(meshTLSAuthentications),
    networkAuthentications: sorted(networkAuthentications),
    httpRoutes: sorted(httpRoutes),
    grpcRoutes: [],
    rateLimitPolicies: [],
    faultInjections: [],
  };
  return {
    size,
    inputs: { resources, registered: [] },
    services: Array.from({ length: count }, (_, i) => ({ namespace: namespaceName(i % nsCount), name: serviceName(i) })),
    inboundRoutes,
    serverAuthorizations,
  };
}

/**
 * The workloads `streams` watch streams are opened on: every workload of the
 * first services, in service order, as inbound keys; and those services' indexes.
 */
export function watchedWorkloads(data: PolicyDataSet, streams: number): { keys: string[]; services: number[] } {
  const perService = data.size.workloadsPerService;
  const services = Math.ceil(streams / perService);
  if (services > data.size.services) throw new RangeError(`${streams} streams need ${services} services of ${perService} workloads; the data set has ${data.size.services}`);
  const keys: string[] = [];
  for (let i = 0; i < services && keys.length < streams; i++) {
    for (let w = 0; w < perService && keys.length < streams; w++) keys.push(`${data.services[i]!.namespace}/${workloadName(i, w)}`);
  }
  return { keys, services: Array.from({ length: services }, (_, i) => i) };
}

/** The position of the resource named `namespace/name` in a list sorted by namespace and name. */
export function indexOfResource(list: readonly { namespace?: string; name: string }[], namespace: string, name: string): number {
  let lo = 0;
  let hi = list.length - 1;
  const key = { namespace, name };
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareByName(list[mid]!, key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  throw new Error(`no resource ${namespace}/${name}`);
}

/** `list` with the element at `index` replaced (a new array, as a new manifest state would be). */
export function replaced<T>(list: readonly T[], index: number, value: T): T[] {
  const copy = list.slice();
  copy[index] = value;
  return copy;
}
