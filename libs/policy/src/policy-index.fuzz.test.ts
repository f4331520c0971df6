import { busValidator, type BusValidator } from '@meshbus/bus-schemas';
import type { DefaultInboundPolicy, MeshResources, ResourceRef } from '@meshbus/manifests';
import { fuzzProperty } from '@meshbus/property-testing';
import { fc } from '@fast-check/vitest';
import { expect } from 'vitest';
import type { PolicyInputs, PolicyResult } from './api.js';
import { computePolicies, createPolicyIndex } from './policy-index.js';
import * as b from './testdata/builders.js';

const validator: BusValidator = busValidator();
const namespaces = ['a', 'b'] as const;
const ns = fc.constantFrom(...namespaces);
const app = fc.constantFrom('web', 'api');
const defaultPolicy = fc.constantFrom<{ defaultInboundPolicy?: DefaultInboundPolicy }>({}, {}, { defaultInboundPolicy: 'deny' }, { defaultInboundPolicy: 'all-authenticated' }, { defaultInboundPolicy: 'audit' });

const workloadArb = (name: string) =>
  fc.record({ namespace: ns, app, policy: defaultPolicy, grpcPort: fc.boolean(), probe: fc.boolean(), opaque: fc.boolean(), sa: fc.constantFrom('web', 'api') }).map((v) =>
    b.workload(v.namespace, name, {
      labels: { app: v.app },
      ...v.policy,
      serviceAccount: v.sa,
      ports: [{ name: 'http', port: 8080 }, ...(v.grpcPort ? [{ name: 'grpc', port: 9090 }] : [])],
      probes: v.probe ? [{ port: 'http', path: '/ready' }, { port: 8080, path: '/live' }] : [],
      opaquePorts: v.opaque ? [{ min: 5432, max: 5432 }] : [],
    }),
  );

const serviceArb = (name: string) =>
  fc.record({ namespace: ns, grpc: fc.boolean(), appProtocol: fc.constantFrom('kubernetes.io/h2c', 'grpc', 'http', 'tls'), opaque: fc.boolean(), accrual: fc.boolean(), retry: fc.boolean() }).map((v) =>
    b.service(v.namespace, name, {
      ports: [{ name: 'http', port: 80, targetPort: 8080 }, ...(v.grpc ? [{ name: 'grpc', port: 9090, targetPort: 9090, appProtocol: v.appProtocol }] : [])],
      opaquePorts: v.opaque ? [{ min: 9090, max: 9090 }] : [],
      traffic: {
        ...(v.accrual ? { failureAccrual: { kind: 'consecutive' as const, maxFailures: 7, minPenaltyMs: 1000, maxPenaltyMs: 60000, jitterRatio: 0.5 } } : {}),
        ...(v.retry ? { retry: { attempts: 2, codes: [], grpcCodes: [] }, timeouts: { requestMs: 3000 } } : {}),
      },
    }),
  );

const serverArb = (name: string) =>
  fc
    .record({ namespace: ns, app, port: fc.constantFrom<number | string>('http', 8080, 'grpc', 9090), protocol: fc.constantFrom('unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'gRPC', 'opaque', 'TLS') as fc.Arbitrary<'unknown'>, access: fc.constantFrom(undefined, 'all-authenticated', 'deny') })
    .map((v) =>
      b.server(v.namespace, name, {
        port: v.port,
        podSelector: { matchLabels: { app: v.app }, matchExpressions: [] },
        proxyProtocol: v.protocol,
        ...(v.access ? { accessPolicy: v.access as 'deny' } : {}),
      }),
    );

const authnRef = fc.constantFrom<ResourceRef>(
  b.ref('MeshTLSAuthentication', 'm0'),
  b.ref('MeshTLSAuthentication', 'm1'),
  b.ref('NetworkAuthentication', 'n0'),
  b.ref('ServiceAccount', 'api', ''),
  b.ref('MeshTLSAuthentication', 'm0', 'policy.linkerd.io', 'b'),
);
const authzTarget = fc.constantFrom<ResourceRef>(
  b.ref('Server', 's0'),
  b.ref('Server', 's1'),
  b.ref('Server', 's2'),
  b.ref('HTTPRoute', 'r0', 'gateway.networking.k8s.io'),
  b.ref('HTTPRoute', 'r1', 'gateway.networking.k8s.io'),
  b.ref('GRPCRoute', 'g0', 'gateway.networking.k8s.io'),
  b.ref('Namespace', 'a', ''),
  b.ref('Namespace', 'b', ''),
);
const authzArb = (name: string) =>
  fc.record({ namespace: ns, target: authzTarget, refs: fc.uniqueArray(authnRef, { maxLength: 2 }) }).map((v) => b.authorizationPolicy(v.namespace, name, v.target, v.refs));

const meshTlsArb = (name: string) =>
  fc.record({ namespace: ns, ids: fc.subarray(['*', '*.a.serviceaccount.identity.meshbus.cluster.local', 'web.a.serviceaccount.identity.meshbus.cluster.local']), sa: fc.boolean(), nsRef: fc.boolean() }).map((v) =>
    b.meshTls(v.namespace, name, v.ids, [...(v.sa ? [b.ref('ServiceAccount', 'web', '')] : []), ...(v.nsRef ? [b.ref('Namespace', 'b', '')] : [])]),
  );
const networkArb = (name: string) => fc.record({ namespace: ns, except: fc.boolean() }).map((v) => b.networkAuthn(v.namespace, name, [{ cidr: '10.0.0.0/8', except: v.except ? ['10.1.0.0/16'] : [] }]));

const parentArb = fc.constantFrom(
  b.parent('Server', 's0'),
  b.parent('Server', 's1'),
  b.parent('Service', 'svc0'),
  b.parent('Service', 'svc1', { port: 80 }),
  b.parent('Service', 'svc0', { namespace: 'a' }),
  b.parent('Service', 'svc1', { namespace: 'b', port: 9090 }),
  b.parent('Service', 'missing'),
);
const httpRuleArb = fc
  .record({
    path: fc.constantFrom('/', '/api', '/ready', '/live/x'),
    exact: fc.boolean(),
    header: fc.boolean(),
    backends: fc.subarray(['svc0', 'svc1', 'gone']),
    fault: fc.constantFrom(undefined, 'f0', 'nope'),
    retry: fc.boolean(),
    timeout: fc.boolean(),
  })
  .map((v) =>
    b.rule({
      matches: [
        {
          path: { type: v.exact ? 'Exact' : 'PathPrefix', value: v.path },
          headers: v.header ? [{ type: 'Exact', name: 'x-canary', value: '1' }] : [],
          queryParams: [],
        },
      ],
      filters: v.fault ? [{ type: 'ExtensionRef', extensionRef: b.ref('HTTPFaultInjection', v.fault, 'policy.meshbus.io') }] : [],
      backendRefs: v.backends.map((name, i) => b.backend(name, i + 1)),
      ...(v.retry ? { retry: { attempts: 3, codes: [{ start: 503, end: 503 }], grpcCodes: [], backoffMs: 10 } } : {}),
      ...(v.timeout ? { timeouts: { requestMs: 1000, backendRequestMs: 300 } } : {}),
    }),
  );
const httpRouteArb = (name: string) =>
  fc.record({ namespace: ns, parents: fc.uniqueArray(parentArb, { minLength: 1, maxLength: 3 }), rules: fc.array(httpRuleArb, { minLength: 1, maxLength: 2 }) }).map((v) => b.httpRoute(v.namespace, name, v.parents, v.rules));
const grpcRouteArb = (name: string) =>
  fc.record({ namespace: ns, parents: fc.uniqueArray(parentArb, { minLength: 1, maxLength: 2 }), method: fc.boolean(), retry: fc.constantFrom<string[] | undefined>(undefined, ['unavailable'], ['unavailable', 'no-such-code']) }).map((v) =>
    b.grpcRoute(v.namespace, name, v.parents, [{ matches: [{ method: { type: 'Exact', service: 'shop.Cart', ...(v.method ? { method: 'Add' } : {}) }, headers: [] }], filters: [], backendRefs: [b.backend('svc1')], ...(v.retry ? { retry: { attempts: 1, codes: [], grpcCodes: v.retry } } : {}) }]),
  );
const rateLimitArb = (name: string) =>
  fc.record({ namespace: ns, server: fc.constantFrom('s0', 's1'), override: fc.boolean() }).map((v) =>
    b.rateLimit(v.namespace, name, v.server, { total: { requestsPerSecond: 100 }, overrides: v.override ? [{ requestsPerSecond: 10, clientRefs: [b.ref('ServiceAccount', 'api', '')] }] : [] }),
  );
const faultArb = (name: string) =>
  fc.record({ namespace: ns, http: fc.boolean() }).map((v) => b.faultInjection(v.namespace, name, { ...(v.http ? { httpStatus: 503 } : {}), grpcStatus: 14, message: 'injected', ratio: { numerator: 1, denominator: 10 } }));
const namespaceArb = (name: string) => defaultPolicy.map((policy) => ({ ...b.namespace(name), ...policy }));

/** Slots: each holds one of a few variants of one resource, or nothing; the same variant is the same object. */
const slots = {
  namespaces: namespaces.map(namespaceArb),
  workloads: ['w0', 'w1', 'w2'].map(workloadArb),
  services: ['svc0', 'svc1'].map(serviceArb),
  servers: ['s0', 's1', 's2'].map(serverArb),
  authorizationPolicies: ['ap0', 'ap1', 'ap2'].map(authzArb),
  meshTLSAuthentications: ['m0', 'm1'].map(meshTlsArb),
  networkAuthentications: ['n0'].map(networkArb),
  httpRoutes: ['r0', 'r1', 'r2'].map(httpRouteArb),
  grpcRoutes: ['g0'].map(grpcRouteArb),
  rateLimitPolicies: ['l0', 'l1'].map(rateLimitArb),
  faultInjections: ['f0'].map(faultArb),
};
type SlotName = keyof typeof slots;
const slotNames = Object.keys(slots) as SlotName[];
const allSlots = slotNames.flatMap((kind) => slots[kind].map((arb) => ({ kind, arb })));

const variantsArb = fc.tuple(...allSlots.map((s) => fc.array(s.arb as fc.Arbitrary<unknown>, { minLength: 1, maxLength: 3 })));
/**
 * How a step hands its state over: `fresh`, new lists of the slots' objects (as the manifest index
 * does); `clone`, the same state as equal copies (every list and resource another object); `same`,
 * the previous inputs again; `dropAndBack`, one resource taken out, then put back as the same object.
 */
const modeArb = fc.constantFrom('fresh', 'fresh', 'fresh', 'clone', 'same', 'dropAndBack');
const scenario = variantsArb.chain((variants) =>
  fc.record({
    variants: fc.constant(variants),
    steps: fc.array(fc.tuple(fc.tuple(...variants.map((v) => fc.option(fc.nat(v.length - 1), { freq: 3 }))), modeArb, fc.nat()), { minLength: 1, maxLength: 6 }),
    registered: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  }),
);

function stateOf(variants: unknown[][], choice: (number | null)[]): MeshResources {
  const parts: Record<string, unknown[]> = {};
  allSlots.forEach((slot, i) => {
    const pick = choice[i];
    if (pick === null || pick === undefined) return;
    const resource = variants[i]?.[pick];
    const list = (parts[slot.kind] ??= []);
    // Two slots of a kind may draw the same namespace and name: the manifest index keeps one.
    const r = resource as { namespace?: string; name: string };
    if (!list.some((x) => (x as typeof r).name === r.name && (x as typeof r).namespace === r.namespace)) list.push(resource);
  });
  return b.resources(parts);
}

function comparable(result: PolicyResult) {
  return {
    defaults: result.defaults,
    inbound: [...result.inbound].sort(),
    outbound: [...result.outbound].sort(),
    statuses: [...result.statuses].sort(),
    rejected: result.rejected,
  };
}

function changedKeys<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k))).sort();
}

/** `resources` without the `n`th resource (counted over every list), or unchanged when it holds none. */
function withoutOne(resources: MeshResources, n: number): MeshResources {
  const lists = Object.entries(resources).filter(([, list]) => (list as unknown[]).length > 0);
  const total = lists.reduce((sum, [, list]) => sum + (list as unknown[]).length, 0);
  if (total === 0) return resources;
  let at = n % total;
  for (const [name, list] of lists) {
    const items = list as unknown[];
    if (at < items.length) return { ...resources, [name]: items.filter((_, i) => i !== at) };
    at -= items.length;
  }
  return resources;
}

fuzzProperty(
  'the incremental index always equals a full recompute, and reports exactly the keys that changed',
  [scenario],
  ({ variants, steps, registered }) => {
    const index = createPolicyIndex(b.settings);
    let previous = computePolicies(b.settings, { resources: b.resources({}), registered: [] });
    let last: PolicyInputs = { resources: b.resources({}), registered: [] };
    const step = (inputs: PolicyInputs) => {
      const changes = index.update(inputs);
      const full = computePolicies(b.settings, inputs);
      expect(comparable(index.result)).toEqual(comparable(full));
      expect([...changes.inbound].sort()).toEqual(changedKeys(previous.inbound, full.inbound));
      expect([...changes.outbound].sort()).toEqual(changedKeys(previous.outbound, full.outbound));
      expect([...changes.statuses].sort()).toEqual(changedKeys(previous.statuses, full.statuses));
      expect(changes.defaults).toBe(JSON.stringify(previous.defaults) !== JSON.stringify(full.defaults));
      for (const p of full.inbound.values()) validator.check('inboundPolicy', p);
      for (const p of full.outbound.values()) validator.check('outboundPolicy', p);
      for (const s of full.statuses.values()) validator.check('policyStatus', s);
      for (const r of full.rejected) validator.check('policyRejected', r);
      validator.check('policyDefaults', full.defaults);
      previous = full;
      last = inputs;
    };
    for (const [choice, mode, n] of steps) {
      // Some workloads also arrive over the bus, in namespace b, one of them shadowed by a manifest Workload;
      // w0 and w1 are registered twice, with other labels (the first registration counts).
      const extra = registered.flatMap((on, i) => (on ? [b.workload('b', `w${i % 4}`, { labels: { app: i % 2 === 0 !== i >= 4 ? 'web' : 'api' }, address: '10.2.0.1' })] : []));
      const inputs = { resources: stateOf(variants, choice), registered: extra };
      switch (mode) {
        case 'fresh':
          step(inputs);
          break;
        case 'clone':
          step(structuredClone(last));
          break;
        case 'same':
          step(last);
          break;
        case 'dropAndBack':
          step({ resources: withoutOne(inputs.resources, n), registered: inputs.registered });
          step(inputs);
          break;
      }
    }
  },
  { runs: 150 },
);
