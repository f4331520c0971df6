import { stringify } from 'yaml';
import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { decodeDocument } from './decode.js';
import { ManifestIndex, defaultWorkloadWeight, opaquePortsAnnotation, type ManifestProblem, type MeshResources } from './index.js';

const file = 'shop/web.yaml';
const dns1123 = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const dns1035 = fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$/);
const portName = fc.stringMatching(/^[a-z0-9]{0,6}[a-z][a-z0-9]{0,6}$/);
const port = fc.integer({ min: 1, max: 65535 });
const stringMap = fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 3 });
const annotations = stringMap.map((map) => Object.fromEntries(Object.entries(map).filter(([key]) => key !== opaquePortsAnnotation)));

/** Any value, and values of the wrong type for the fields of the kinds. */
const junk = fc.oneof(fc.anything({ maxDepth: 2 }), fc.constantFrom(null, '', -1, 0, 65536, 1.5, 'TCP', 'UDP', '10.0.0.1', true, [], {}, '__proto__'));
/** `value`, or (now and then) junk in its place or nothing. */
const maybe = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: value, weight: 6 }, { arbitrary: junk, weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
const withoutUndefined = (value: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

const shapedMetadata = fc.record({ name: maybe(dns1035), namespace: maybe(dns1123), labels: maybe(stringMap), annotations: maybe(fc.oneof(annotations, fc.record({ [opaquePortsAnnotation]: fc.oneof(fc.string(), fc.constantFrom('80', '1-100', '8080,9000-9100', '0', '70000', '5-1')) }))) });
const shapedServicePort = fc.record({ name: maybe(portName), port: maybe(port), targetPort: maybe(fc.oneof(port, portName)), protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP')), appProtocol: maybe(fc.string()) });
const shapedWorkloadPort = fc.record({ name: maybe(portName), port: maybe(port) });
const shapedRoute = fc.record({ name: maybe(fc.string()), condition: maybe(fc.record({ method: maybe(fc.constantFrom('GET', 'POST')), pathRegex: maybe(fc.constantFrom('/api/.*', '(', '[a-', '.*')) })), isRetryable: maybe(fc.boolean()), timeout: maybe(fc.constantFrom('1s', '100ms', 'x', '5', '-1s')) });

/** Policy and route documents with fields missing, mistyped or out of range. */
function shapedPolicyDocuments(): fc.Arbitrary<Record<string, unknown>>[] {
  const ref = (kinds: string[], groups: string[]) => fc.record({ group: maybe(fc.constantFrom(...groups)), kind: maybe(fc.constantFrom(...kinds)), name: maybe(dns1123), namespace: maybe(dns1123) });
  const selector = fc.record({ matchLabels: maybe(stringMap), matchExpressions: maybe(fc.array(fc.record({ key: maybe(fc.constantFrom('app', 'x/y', 'Bad Key', '')), operator: maybe(fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist', 'Near')), values: maybe(fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 })) }), { maxLength: 2 })) });
  const duration = fc.constantFrom('1s', '100ms', 'x', '5', '-1s', 0, '1h30m');
  const cidr = fc.oneof(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 33 })).map(([ip, p]) => `${ip}/${p}`), fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 129 })).map(([ip, p]) => `${ip}/${p}`), fc.ipV4(), fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', 'fd00::/8', 'x/8', '10.0.0.0/x'));
  const filter = fc.record({
    type: maybe(fc.constantFrom('RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'ExtensionRef', 'RequestMirror')),
    requestHeaderModifier: maybe(fc.record({ set: maybe(fc.array(fc.record({ name: maybe(fc.constantFrom('x-a', 'X-A', 'bad name')), value: maybe(fc.string({ maxLength: 4 })) }), { maxLength: 2 })), remove: maybe(fc.array(fc.constantFrom('x-a', 'x-b'), { maxLength: 2 })) })),
    requestRedirect: maybe(fc.record({ scheme: maybe(fc.constantFrom('http', 'https', 'ftp')), statusCode: maybe(fc.constantFrom(301, 302, 404)), path: maybe(fc.record({ type: maybe(fc.constantFrom('ReplaceFullPath', 'ReplacePrefixMatch')), replaceFullPath: maybe(fc.constantFrom('/a', 'a')) })) })),
    extensionRef: maybe(fc.record({ group: maybe(fc.constantFrom('policy.meshbus.io', 'x')), kind: maybe(fc.constantFrom('HTTPFaultInjection', 'Other')), name: maybe(dns1123) })),
  });
  const backend = fc.record({ kind: maybe(fc.constantFrom('Service', 'Pod')), name: maybe(dns1123), port: maybe(port), weight: maybe(fc.integer({ min: -1, max: 1_000_001 })), filters: maybe(fc.array(filter, { maxLength: 1 })) });
  const parentRef = fc.record({ group: maybe(fc.constantFrom('', 'core', 'policy.linkerd.io', 'gateway.networking.k8s.io')), kind: maybe(fc.constantFrom('Service', 'Server', 'Gateway')), name: maybe(dns1123), port: maybe(port) });
  const common = { filters: maybe(fc.array(filter, { maxLength: 2 })), backendRefs: maybe(fc.array(backend, { maxLength: 2 })), timeouts: maybe(fc.record({ request: maybe(duration), backendRequest: maybe(duration) })) };
  const httpRule = fc.record({
    matches: maybe(fc.array(fc.record({ path: maybe(fc.record({ type: maybe(fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression')), value: maybe(fc.constantFrom('/', '/api', 'api', '/a//b', '(', '/x.*')) })), headers: maybe(fc.array(fc.record({ name: maybe(fc.constantFrom('x-a', 'X-A')), value: maybe(fc.string({ maxLength: 4 })), type: maybe(fc.constantFrom('Exact', 'RegularExpression')) }), { maxLength: 2 })), method: maybe(fc.constantFrom('GET', 'get', 'BREW')) }), { maxLength: 2 })),
    ...common,
    retry: maybe(fc.record({ attempts: maybe(fc.integer({ min: -1, max: 5 })), codes: maybe(fc.array(fc.integer({ min: 399, max: 600 }), { maxLength: 2 })), backoff: maybe(duration) })),
  });
  const grpcRule = fc.record({ matches: maybe(fc.array(fc.record({ method: maybe(fc.record({ type: maybe(fc.constantFrom('Exact', 'RegularExpression')), service: maybe(fc.constantFrom('shop.v1.Catalog', '1bad', '(')), method: maybe(fc.constantFrom('List', 'a.b')) })) }), { maxLength: 2 })), ...common });
  const routeAnnotations = fc.record({ 'retry.linkerd.io/http': maybe(fc.constantFrom('5xx', '500,502-504', 'gateway-error', '5xy', '600')), 'retry.linkerd.io/grpc': maybe(fc.constantFrom('unavailable', 'nope')), 'retry.linkerd.io/limit': maybe(fc.constantFrom('2', 'x')), 'timeout.linkerd.io/request': maybe(duration) });
  const metadata = fc.record({ name: maybe(dns1123), namespace: maybe(dns1123), annotations: maybe(routeAnnotations) });
  const doc = (apiVersion: string, kind: string, spec: fc.Arbitrary<unknown>) => fc.record({ apiVersion: maybe(fc.constant(apiVersion)), kind: maybe(fc.constant(kind)), metadata: maybe(metadata), spec: maybe(spec) });
  return [
    doc('policy.linkerd.io/v1beta3', 'Server', fc.record({ port: maybe(fc.oneof(port, portName)), podSelector: maybe(selector), workloadSelector: maybe(selector), proxyProtocol: maybe(fc.constantFrom('HTTP/1', 'gRPC', 'SMTP')), accessPolicy: maybe(fc.constantFrom('deny', 'audit', 'allow')) })),
    doc('policy.linkerd.io/v1alpha1', 'AuthorizationPolicy', fc.record({ targetRef: maybe(ref(['Server', 'HTTPRoute', 'GRPCRoute', 'Namespace', 'Pod'], ['policy.linkerd.io', 'gateway.networking.k8s.io', ''])), requiredAuthenticationRefs: maybe(fc.array(ref(['MeshTLSAuthentication', 'NetworkAuthentication', 'ServiceAccount', 'Secret'], ['policy.linkerd.io', '']), { maxLength: 2 })) })),
    doc('policy.linkerd.io/v1alpha1', 'MeshTLSAuthentication', fc.record({ identities: maybe(fc.array(fc.constantFrom('*', '*.shop.serviceaccount.identity.meshbus.cluster.local', 'web.shop', '**', 'Bad'), { maxLength: 2 })), identityRefs: maybe(fc.array(ref(['ServiceAccount', 'Namespace', 'Pod'], ['', 'core']), { maxLength: 2 })) })),
    doc('policy.linkerd.io/v1alpha1', 'NetworkAuthentication', fc.record({ networks: maybe(fc.array(fc.record({ cidr: maybe(cidr), except: maybe(fc.array(cidr, { maxLength: 2 })) }), { maxLength: 2 })) })),
    doc('gateway.networking.k8s.io/v1', 'HTTPRoute', fc.record({ parentRefs: maybe(fc.array(parentRef, { maxLength: 2 })), hostnames: maybe(fc.array(fc.constantFrom('web.shop', '*.shop', '10.0.0.1', 'Bad_Host'), { maxLength: 2 })), rules: maybe(fc.array(httpRule, { maxLength: 2 })) })),
    doc('gateway.networking.k8s.io/v1', 'GRPCRoute', fc.record({ parentRefs: maybe(fc.array(parentRef, { maxLength: 2 })), rules: maybe(fc.array(grpcRule, { maxLength: 2 })) })),
    doc('policy.linkerd.io/v1alpha1', 'HTTPLocalRateLimitPolicy', fc.record({ targetRef: maybe(ref(['Server', 'Service'], ['policy.linkerd.io', ''])), total: maybe(fc.record({ requestsPerSecond: maybe(fc.integer({ min: 0, max: 200 })) })), identity: maybe(fc.record({ requestsPerSecond: maybe(fc.integer({ min: 0, max: 200 })) })), overrides: maybe(fc.array(fc.record({ requestsPerSecond: maybe(fc.integer({ min: 0, max: 200 })), clientRefs: maybe(fc.array(ref(['ServiceAccount', 'Namespace'], ['', 'core']), { maxLength: 2 })) }), { maxLength: 2 })) })),
    doc('policy.meshbus.io/v1alpha1', 'HTTPFaultInjection', fc.record({ abort: maybe(fc.record({ httpStatus: maybe(fc.integer({ min: 99, max: 600 })), grpcStatus: maybe(fc.integer({ min: 0, max: 17 })), message: maybe(fc.string({ maxLength: 6 })) })), percentage: maybe(fc.oneof(fc.double({ min: -1, max: 101, noNaN: true }), fc.constantFrom(12.5, 0.0000001, 50))), ratio: maybe(fc.record({ numerator: maybe(fc.nat(10)), denominator: maybe(fc.nat(10)) })) })),
    doc('v1', 'Service', fc.record({ clusterIP: maybe(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('None', '', 'x'))), clusterIPs: maybe(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('None')), { maxLength: 3 })) })),
    doc('meshbus.io/v1alpha1', 'Workload', fc.record({ address: fc.ipV4(), ports: maybe(fc.array(shapedWorkloadPort, { maxLength: 2 })), probes: maybe(fc.array(fc.record({ port: maybe(fc.oneof(port, portName)), path: maybe(fc.constantFrom('/', '/ready', 'ready')) }), { maxLength: 2 })), readinessProbe: maybe(fc.record({ httpGet: maybe(fc.record({ port: maybe(fc.oneof(port, portName)), path: maybe(fc.constantFrom('/', '/live')) })), periodSeconds: maybe(fc.integer({ min: 0, max: 5 })) })) })),
  ];
}

/** Documents shaped like the kinds meshbus reads, with fields missing, mistyped or out of range. */
const shapedDocument = fc.oneof(
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('Namespace')), metadata: maybe(shapedMetadata) }),
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('ServiceAccount')), metadata: maybe(shapedMetadata) }),
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('Service')), metadata: maybe(shapedMetadata), spec: maybe(fc.record({ selector: maybe(stringMap), ports: maybe(fc.array(maybe(shapedServicePort), { maxLength: 3 })) })) }),
  fc.record({
    apiVersion: maybe(fc.constant('meshbus.io/v1alpha1')),
    kind: maybe(fc.constant('Workload')),
    metadata: maybe(shapedMetadata),
    spec: maybe(fc.record({ address: maybe(fc.oneof(fc.ipV4(), fc.ipV6())), ports: maybe(fc.array(maybe(shapedWorkloadPort), { maxLength: 3 })), serviceAccount: maybe(dns1123), ready: maybe(fc.boolean()), meshed: maybe(fc.boolean()), zone: maybe(fc.string()), weight: maybe(fc.nat()) })),
  }),
  fc.record({
    apiVersion: maybe(fc.constantFrom('linkerd.io/v1alpha2', 'linkerd.io/v1alpha1')),
    kind: maybe(fc.constant('ServiceProfile')),
    metadata: maybe(shapedMetadata.map((m) => ({ ...m, name: 'web.shop.svc.cluster.local' }))),
    spec: maybe(fc.record({ routes: maybe(fc.array(maybe(shapedRoute), { maxLength: 2 })), retryBudget: maybe(fc.record({ retryRatio: maybe(fc.double()), minRetriesPerSecond: maybe(fc.nat()), ttl: maybe(fc.constantFrom('10s', 'x')) })), opaquePorts: maybe(fc.array(port, { maxLength: 2 })) })),
  }),
  ...shapedPolicyDocuments(),
  fc.record({ apiVersion: fc.string({ maxLength: 12 }), kind: fc.string({ maxLength: 12 }), metadata: maybe(shapedMetadata) }),
).map(withoutUndefined);

/** Checks what the index holds after reading any file: problems name the file and say why. */
function checkProblems(problems: readonly ManifestProblem[]): void {
  for (const problem of problems) {
    expect(problem.file).toBe(file);
    expect(problem.reason).toMatch(/\S/);
    for (const field of ['kind', 'namespace', 'name'] as const) if (field in problem) expect(typeof problem[field]).toBe('string');
  }
}

const charEdit = fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }));
const yamlText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...'abc:-[]{}&*!|>\'"%@`#,? \n\t0123'.split('')), maxLength: 200 }),
  fc.array(shapedDocument, { minLength: 1, maxLength: 3 }).map((documents) => documents.map((d) => stringify(d)).join('---\n')),
  fc.tuple(fc.array(shapedDocument, { minLength: 1, maxLength: 2 }), fc.array(charEdit, { minLength: 1, maxLength: 3 })).map(([documents, edits]) =>
    edits.reduce((text, [at, remove, insert]) => text.slice(0, at % (text.length + 1)) + insert + text.slice((at % (text.length + 1)) + remove), documents.map((d) => stringify(d)).join('---\n')),
  ),
);

/** Valid policy and route resources, each with the resource it must read back as. */
function validPolicyResources() {
  const policyMetadata = fc.record({ name: dns1123, namespace: dns1123, labels: stringMap, annotations });
  const meta = (apiVersion: string, m: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> }) => ({ ...m, apiVersion, file });
  const labelKey = fc.stringMatching(/^([a-z]{1,5}\.[a-z]{1,5}\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,8}[a-zA-Z0-9])?$/);
  const labelValue = fc.stringMatching(/^([a-zA-Z0-9]([-a-zA-Z0-9_.]{0,8}[a-zA-Z0-9])?)?$/);
  const selector = fc.record({
    matchLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 3 }),
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: labelKey, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(labelValue, { minLength: 1, maxLength: 3 }) }),
        fc.record({ key: labelKey, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const), values: fc.constant([] as string[]) }),
      ),
      { maxLength: 2 },
    ),
  });
  const dotted = (v: number) => [24, 16, 8, 0].map((shift) => Math.floor(v / 2 ** shift) % 256).join('.');
  /** An IPv4 network, its text, and a sub-network of it written as a bare address when it is a /32. */
  const network = fc.tuple(fc.nat(2 ** 32 - 1), fc.integer({ min: 0, max: 32 }), fc.nat(2 ** 32 - 1), fc.integer({ min: 0, max: 32 })).map(([value, prefix, offset, extra]) => {
    const size = 2 ** (32 - prefix);
    const base = Math.floor(value / size) * size;
    const innerPrefix = Math.min(32, prefix + extra);
    const innerSize = 2 ** (32 - innerPrefix);
    const inner = base + Math.floor((offset % size) / innerSize) * innerSize;
    return { cidr: `${dotted(base)}/${prefix}`, except: innerPrefix === 32 ? dotted(inner) : `${dotted(inner)}/${innerPrefix}`, canonicalExcept: `${dotted(inner)}/${innerPrefix}` };
  });
  const pathValue = fc.stringMatching(/^(\/[a-z0-9]{1,6}){0,3}\/?$/).filter((v) => v.startsWith('/'));
  return [
    fc.record({ m: policyMetadata, port: fc.oneof(port, portName), selectorField: fc.constantFrom('podSelector', 'workloadSelector'), selector, proxyProtocol: fc.option(fc.constantFrom('unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque', 'TLS'), { nil: undefined }), accessPolicy: fc.option(fc.constantFrom('all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'), { nil: undefined }), apiVersion: fc.constantFrom('policy.linkerd.io/v1beta1', 'policy.linkerd.io/v1beta3', 'meshbus.io/v1alpha1') }).map(({ m, port: p, selectorField, selector: sel, proxyProtocol, accessPolicy, apiVersion }) => ({
      document: withoutUndefined({ apiVersion, kind: 'Server', metadata: m, spec: { port: p, [selectorField]: sel, proxyProtocol, accessPolicy } }),
      collection: 'servers' as const,
      expected: withoutUndefined({ kind: 'Server', ...meta(apiVersion, m), port: p, [selectorField]: sel, proxyProtocol: proxyProtocol ?? 'unknown', accessPolicy }),
    })),
    fc.record({ m: policyMetadata, identities: fc.uniqueArray(fc.oneof(fc.constant('*'), dns1123.map((d) => `*.${d}.serviceaccount.identity.meshbus.cluster.local`), fc.tuple(dns1123, dns1123).map(([a, b]) => `${a}.${b}.serviceaccount.identity.meshbus.cluster.local`)), { minLength: 1, maxLength: 3 }), identityRefs: fc.uniqueArray(fc.record({ kind: fc.constantFrom('ServiceAccount', 'Namespace'), name: dns1123 }), { maxLength: 2, selector: (r) => `${r.kind}/${r.name}` }) }).map(({ m, identities, identityRefs }) => ({
      document: { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'MeshTLSAuthentication', metadata: m, spec: { identities, identityRefs } },
      collection: 'meshTLSAuthentications' as const,
      expected: { kind: 'MeshTLSAuthentication', ...meta('policy.linkerd.io/v1alpha1', m), identities, identityRefs: identityRefs.map((r) => ({ group: '', ...r })) },
    })),
    fc.record({ m: policyMetadata, networks: fc.array(network, { minLength: 1, maxLength: 3 }) }).map(({ m, networks }) => ({
      document: { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'NetworkAuthentication', metadata: m, spec: { networks: networks.map((n) => ({ cidr: n.cidr, except: [n.except] })) } },
      collection: 'networkAuthentications' as const,
      expected: { kind: 'NetworkAuthentication', ...meta('policy.linkerd.io/v1alpha1', m), networks: networks.map((n) => ({ cidr: n.cidr, except: [n.canonicalExcept] })) },
    })),
    fc.record({ m: policyMetadata, target: fc.constantFrom<[string, string]>(['policy.linkerd.io', 'Server'], ['gateway.networking.k8s.io', 'HTTPRoute'], ['gateway.networking.k8s.io', 'GRPCRoute']), targetName: dns1123, authName: dns1123, authKind: fc.constantFrom('MeshTLSAuthentication', 'NetworkAuthentication') }).map(({ m, target: [group, kind], targetName, authName, authKind }) => ({
      document: { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'AuthorizationPolicy', metadata: m, spec: { targetRef: { group, kind, name: targetName }, requiredAuthenticationRefs: [{ group: 'policy.linkerd.io', kind: authKind, name: authName }] } },
      collection: 'authorizationPolicies' as const,
      expected: { kind: 'AuthorizationPolicy', ...meta('policy.linkerd.io/v1alpha1', m), targetRef: { group, kind, name: targetName }, requiredAuthenticationRefs: [{ group: 'policy.linkerd.io', kind: authKind, name: authName }] },
    })),
    fc.record({
      m: policyMetadata,
      service: dns1035,
      parentPort: fc.option(port, { nil: undefined }),
      rules: fc.array(fc.record({ type: fc.constantFrom('Exact' as const, 'PathPrefix' as const), value: pathValue, backend: dns1035, backendPort: port, weight: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }), requestMs: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }) }), { maxLength: 3 }),
    }).map(({ m, service, parentPort, rules }) => ({
      document: withoutUndefined({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: m,
        spec: { parentRefs: [{ group: '', kind: 'Service', name: service, port: parentPort }], rules: rules.map((r) => ({ matches: [{ path: { type: r.type, value: r.value } }], backendRefs: [{ name: r.backend, port: r.backendPort, weight: r.weight }], timeouts: r.requestMs === undefined ? undefined : { request: `${r.requestMs}ms` } })) },
      }),
      collection: 'httpRoutes' as const,
      expected: withoutUndefined({
        kind: 'HTTPRoute',
        ...meta('gateway.networking.k8s.io/v1', m),
        parentRefs: [{ group: '', kind: 'Service', name: service, port: parentPort }],
        hostnames: [],
        rules: rules.map((r) => ({ matches: [{ path: { type: r.type, value: r.value }, headers: [], queryParams: [] }], filters: [], backendRefs: [{ group: '', kind: 'Service', name: r.backend, port: r.backendPort, weight: r.weight ?? 1, filters: [] }], timeouts: r.requestMs === undefined ? undefined : { requestMs: r.requestMs } })),
      }),
    })),
    fc.record({ m: policyMetadata, server: dns1123, service: fc.stringMatching(/^[a-z][a-z0-9]{0,5}(\.[a-zA-Z][a-zA-Z0-9]{0,5}){0,2}$/), method: fc.option(fc.stringMatching(/^[A-Z][a-zA-Z0-9]{0,8}$/), { nil: undefined }) }).map(({ m, server, service, method }) => ({
      document: withoutUndefined({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: m, spec: { parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: server }], rules: [{ matches: [{ method: { service, method } }] }] } }),
      collection: 'grpcRoutes' as const,
      expected: withoutUndefined({ kind: 'GRPCRoute', ...meta('gateway.networking.k8s.io/v1', m), parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: server }], hostnames: [], rules: [{ matches: [{ method: { type: 'Exact', service, method }, headers: [] }], filters: [], backendRefs: [] }] }),
    })),
    fc.record({ m: policyMetadata, server: dns1123, total: fc.integer({ min: 1, max: 10_000 }), share: fc.double({ min: 0, max: 1, noNaN: true }), accounts: fc.array(dns1123, { minLength: 1, maxLength: 2 }) }).map(({ m, server, total, share, accounts }) => {
      const identity = Math.max(1, Math.floor(total * share));
      return {
        document: { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'HTTPLocalRateLimitPolicy', metadata: m, spec: { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: server }, total: { requestsPerSecond: total }, identity: { requestsPerSecond: identity }, overrides: [{ requestsPerSecond: identity, clientRefs: accounts.map((name) => ({ kind: 'ServiceAccount', name })) }] } },
        collection: 'rateLimitPolicies' as const,
        expected: { kind: 'HTTPLocalRateLimitPolicy', ...meta('policy.linkerd.io/v1alpha1', m), targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: server }, total: { requestsPerSecond: total }, identity: { requestsPerSecond: identity }, overrides: [{ requestsPerSecond: identity, clientRefs: accounts.map((name) => ({ group: '', kind: 'ServiceAccount', name })) }] },
      };
    }),
    fc.record({ m: policyMetadata, status: fc.oneof(fc.record({ httpStatus: fc.integer({ min: 100, max: 599 }) }), fc.record({ grpcStatus: fc.integer({ min: 1, max: 16 }) })), message: fc.string({ maxLength: 10 }), denominator: fc.integer({ min: 1, max: 1_000_000 }), share: fc.double({ min: 0, max: 1, noNaN: true }) }).map(({ m, status, message, denominator, share }) => {
      const ratio = { numerator: Math.floor(denominator * share), denominator };
      return {
        document: { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'HTTPFaultInjection', metadata: m, spec: { abort: { ...status, message }, ratio } },
        collection: 'faultInjections' as const,
        expected: { kind: 'HTTPFaultInjection', ...meta('policy.meshbus.io/v1alpha1', m), abort: { ...status, message, ratio } },
      };
    }),
  ];
}

describe('decodeDocument', () => {
  fuzzProperty('decodes or refuses any document shaped like a kind, naming what it can', [fc.oneof(shapedDocument, fc.anything())], (value) => {
    const decoded = decodeDocument(value);
    if (decoded.ok) return;
    expect(decoded.reason).toMatch(/\S/);
    const document = value as { kind?: unknown; metadata?: { name?: unknown } } | null;
    if (typeof document?.kind === 'string') expect(decoded.ref.kind).toBe(document.kind);
    const name = document?.metadata?.name;
    if (decoded.key !== undefined && typeof name === 'string') expect(decoded.ref.name).toBe(name);
  }, { runs: 200, maxRuns: 20_000 });
});

describe('ManifestIndex', () => {
  fuzzProperty('reads any text: problems name the file and give a reason, and a good file read earlier stays in force', [yamlText], (text) => {
    const index = new ManifestIndex();
    index.apply({ file, text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n' });
    index.apply({ file, text });
    checkProblems(index.problems);
    if (!index.resources.namespaces.some((n) => n.name === 'shop')) {
      // The namespace may go only when every document of the new text was identified as another resource.
      for (const problem of index.problems) {
        expect(problem.name, `${problem.reason}, yet the namespace read earlier was dropped`).toBeDefined();
        expect(problem.kind === 'Namespace' && problem.name === 'shop').toBe(false);
      }
    }
  }, { runs: 100, maxRuns: 5_000 });

  const workloadPorts = fc.uniqueArray(fc.record({ name: fc.option(portName, { nil: undefined }), port }), { maxLength: 3, selector: (p) => p.port }).filter((ports) => {
    const names = ports.flatMap((p) => (p.name === undefined ? [] : [p.name]));
    return new Set(names).size === names.length;
  });
  const servicePorts = fc.uniqueArray(fc.record({ port, protocol: fc.constantFrom('TCP', 'UDP'), targetPort: fc.option(fc.oneof(port, portName), { nil: undefined }), appProtocol: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }) }), { maxLength: 3, selector: (p) => p.port });

  const validResource = fc.oneof(
    fc.record({ name: dns1123, labels: stringMap, annotations }).map((m) => ({
      document: { apiVersion: 'v1', kind: 'Namespace', metadata: m },
      collection: 'namespaces' as const,
      expected: { kind: 'Namespace', ...m },
    })),
    fc.record({ name: dns1123, namespace: dns1123, labels: stringMap, annotations }).map((m) => ({
      document: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: m },
      collection: 'serviceAccounts' as const,
      expected: { kind: 'ServiceAccount', ...m },
    })),
    fc.tuple(fc.record({ name: dns1035, namespace: dns1123, labels: stringMap, annotations }), fc.option(stringMap, { nil: undefined }), servicePorts, fc.option(fc.ipV4(), { nil: undefined })).map(([m, selector, ports, clusterIP]) => {
      const named = ports.map((p, i) => withoutUndefined({ name: `p${i}`, ...p }));
      return {
        document: { apiVersion: 'v1', kind: 'Service', metadata: m, spec: withoutUndefined({ selector, ports: named, clusterIP }) },
        collection: 'services' as const,
        expected: withoutUndefined({
          kind: 'Service',
          ...m,
          ...(selector !== undefined && Object.keys(selector).length > 0 ? { selector } : {}),
          ports: named.filter((p) => p.protocol === 'TCP').map(({ protocol: _protocol, ...p }) => ({ ...p, targetPort: p.targetPort ?? p.port })),
          opaquePorts: [],
          clusterIPs: clusterIP === undefined ? [] : [clusterIP],
          traffic: {},
        }),
      };
    }),
    fc.record({ metadata: fc.record({ name: dns1123, namespace: dns1123, labels: stringMap, annotations }), address: fc.oneof(fc.ipV4(), fc.ipV6()), ports: workloadPorts, serviceAccount: fc.option(dns1123, { nil: undefined }), ready: fc.option(fc.boolean(), { nil: undefined }), meshed: fc.option(fc.boolean(), { nil: undefined }), zone: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }), weight: fc.option(fc.nat(), { nil: undefined }), probes: fc.option(fc.uniqueArray(fc.record({ port, path: fc.stringMatching(/^\/[a-z0-9/]{0,10}$/) }), { maxLength: 2, selector: (p) => `${p.port} ${p.path}` }), { nil: undefined }) }).map(({ metadata, ...spec }) => ({
      document: withoutUndefined({ apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata, spec }),
      collection: 'workloads' as const,
      expected: withoutUndefined({ kind: 'Workload', ...metadata, ...spec, ports: spec.ports.map((p) => withoutUndefined(p)), serviceAccount: spec.serviceAccount ?? 'default', ready: spec.ready ?? true, meshed: spec.meshed ?? true, weight: spec.weight ?? defaultWorkloadWeight, opaquePorts: [], probes: spec.probes ?? [] }),
    })),
    ...validPolicyResources(),
  );

  fuzzProperty('reads valid resources written as YAML into the expected resources', [validResource], ({ document, collection, expected }) => {
    const index = new ManifestIndex();
    index.apply({ file, text: stringify(document) });
    expect(index.problems).toEqual([]);
    const resources: MeshResources = index.resources;
    expect(resources[collection]).toEqual([expected]);
  }, { runs: 100, maxRuns: 10_000 });
});
