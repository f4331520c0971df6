/*
 * One-resource changes to a policy data set, as a user's edit would make them:
 * each returns the next inputs (only the changed list is a new array, the
 * other resources stay the same objects) and the workloads whose inbound
 * policy the change is meant to reach.
 */
import type { MeshResources, ProxyProtocol } from '@meshbus/manifests';
import type { PolicyInputs } from '@meshbus/policy';
import { inboundKey } from '@meshbus/policy';
import {
  benchAuthorization,
  benchInboundRoute,
  benchServer,
  benchWorkload,
  indexOfResource,
  meshTlsName,
  replaced,
  serviceName,
  serverName,
  workloadName,
  type PolicyDataSet,
} from './policy-dataset.js';

/** The kinds of change the benchmark times. */
export const policyChangeKinds = ['authorization', 'route', 'server', 'workload'] as const;
export type PolicyChangeKind = (typeof policyChangeKinds)[number];

/** How each kind is named in reports. */
export const policyChangeTitles: Record<PolicyChangeKind, string> = {
  authorization: 'AuthorizationPolicy edit (other MeshTLSAuthentication)',
  route: 'HTTPRoute edit (path prefix)',
  server: 'Server edit (proxyProtocol)',
  workload: 'workload label change (moves to another Server)',
};

/** One change: the next inputs, and the inbound keys of the workloads it reaches. */
export interface PolicyChange {
  readonly kind: PolicyChangeKind;
  readonly inputs: PolicyInputs;
  readonly affected: readonly string[];
  /** What was edited, for progress lines. */
  readonly what: string;
}

/** Spreads rounds over the data set (a prime stride, so consecutive rounds touch unrelated resources). */
const pick = (round: number, length: number, salt: number) => (round * 7919 + salt * 104_729) % length;

/**
 * Makes changes of each kind to a data set, one after another, each from
 * the state the previous one left. `services`, when given, limits the
 * changes to the services with those indexes (e.g. those with watch streams).
 */
export class PolicyChanger {
  #inputs: PolicyInputs;
  readonly #services: readonly number[];
  readonly #grants: PolicyDataSet['serverAuthorizations'];
  readonly #routes: PolicyDataSet['inboundRoutes'];

  constructor(
    private readonly data: PolicyDataSet,
    services?: readonly number[],
  ) {
    this.#inputs = data.inputs;
    this.#services = services ?? Array.from({ length: data.size.services }, (_, i) => i);
    const allowed = new Set(this.#services);
    this.#grants = data.serverAuthorizations.filter((a) => allowed.has(a.service));
    this.#routes = data.inboundRoutes.filter((x) => allowed.has(x.service));
    if (this.#services.length === 0) throw new RangeError('PolicyChanger needs at least one service');
    if (this.#grants.length === 0) throw new RangeError('PolicyChanger needs a Server-level AuthorizationPolicy among the services');
    if (this.#routes.length === 0) throw new RangeError('PolicyChanger needs an inbound HTTPRoute among the services');
  }

  get inputs(): PolicyInputs {
    return this.#inputs;
  }

  /** The workloads of service `i` that its Server selects now. */
  #workloadsOf(i: number): string[] {
    const { namespace, name } = this.data.services[i]!;
    return this.#inputs.resources.workloads.filter((w) => w.namespace === namespace && w.labels['app'] === name).map((w) => inboundKey(w.namespace, w.name));
  }

  #with(resources: Partial<MeshResources>): PolicyInputs {
    return { resources: { ...this.#inputs.resources, ...resources }, registered: this.#inputs.registered };
  }

  /** The next change of `kind` (round picks which resource); applied, so the next change starts from it. */
  next(kind: PolicyChangeKind, round: number): PolicyChange {
    const { size } = this.data;
    const r = this.#inputs.resources;
    const salt = policyChangeKinds.indexOf(kind);
    let service = this.#services[pick(round, this.#services.length, salt)]!;
    let change: PolicyChange;
    switch (kind) {
      case 'authorization': {
        // A Server-level grant, now requiring the next MeshTLSAuthentication of its namespace.
        const grant = this.#grants[pick(round, this.#grants.length, salt)]!;
        service = grant.service;
        const at = indexOfResource(r.authorizationPolicies, grant.namespace, grant.name);
        const current = r.authorizationPolicies[at]!.requiredAuthenticationRefs[0]!.name;
        const authn = (Number(/^svc-(\d+)-clients$/.exec(current)![1]) + size.namespaces) % size.services;
        const next = benchAuthorization(grant.name, service, size.namespaces, { kind: 'Server', name: serverName(service) }, authn);
        change = { kind, inputs: this.#with({ authorizationPolicies: replaced(r.authorizationPolicies, at, next) }), affected: this.#workloadsOf(service), what: `${grant.namespace}/${grant.name} → ${meshTlsName(authn)}` };
        break;
      }
      case 'route': {
        const route = this.#routes[pick(round, this.#routes.length, salt)]!;
        service = route.service;
        const at = indexOfResource(r.httpRoutes, route.namespace, route.name);
        const variant = route.name.endsWith('-api') ? 0 : 1;
        const prefix = `${variant === 0 ? '/api' : '/static'}/r${round}`;
        change = {
          kind,
          inputs: this.#with({ httpRoutes: replaced(r.httpRoutes, at, benchInboundRoute(service, variant, size.namespaces, prefix)) }),
          affected: this.#workloadsOf(service),
          what: `${route.namespace}/${route.name} → ${prefix}`,
        };
        break;
      }
      case 'server': {
        const { namespace } = this.data.services[service]!;
        const at = indexOfResource(r.servers, namespace, serverName(service));
        const order: ProxyProtocol[] = ['HTTP/1', 'HTTP/2', 'unknown'];
        const protocol = order[(order.indexOf(r.servers[at]!.proxyProtocol) + 1) % order.length]!;
        change = {
          kind,
          inputs: this.#with({ servers: replaced(r.servers, at, benchServer(service, size.namespaces, protocol)) }),
          affected: this.#workloadsOf(service),
          what: `${namespace}/${serverName(service)} → ${protocol}`,
        };
        break;
      }
      case 'workload': {
        // One workload of the service moves to (or back from) the Server of the next service of its namespace.
        const { namespace } = this.data.services[service]!;
        const w = round % size.workloadsPerService;
        const at = indexOfResource(r.workloads, namespace, workloadName(service, w));
        const home = serviceName(service);
        const app = r.workloads[at]!.labels['app'] === home ? serviceName((service + size.namespaces) % size.services) : home;
        change = {
          kind,
          inputs: this.#with({ workloads: replaced(r.workloads, at, benchWorkload(service, w, size.namespaces, app)) }),
          affected: [inboundKey(namespace, workloadName(service, w))],
          what: `${namespace}/${workloadName(service, w)} app=${app}`,
        };
        break;
      }
    }
    this.#inputs = change.inputs;
    return change;
  }
}
