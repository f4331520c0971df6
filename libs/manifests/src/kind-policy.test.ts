import { describe, expect, it } from 'vitest';
import { decodeDocument } from './decode.js';

const metadata = { name: 'web-http', namespace: 'shop' };
const base = (apiVersion: string) => ({ namespace: 'shop', name: 'web-http', labels: {}, annotations: {}, apiVersion, file: '' });

function decoded(document: unknown) {
  const result = decodeDocument(document);
  if (!result.ok) expect.fail(result.reason);
  return result.resource;
}

function reason(document: unknown): string {
  const result = decodeDocument(document);
  if (result.ok) expect.fail('the document was accepted');
  return result.reason;
}

const server = (spec: Record<string, unknown>, apiVersion = 'policy.linkerd.io/v1beta3') => ({ apiVersion, kind: 'Server', metadata, spec: { port: 8080, podSelector: { matchLabels: { app: 'web' } }, ...spec } });

describe('Server', () => {
  it('reads a port number, a pod selector and the defaults', () => {
    expect(decoded(server({}))).toEqual({
      kind: 'Server',
      ...base('policy.linkerd.io/v1beta3'),
      port: 8080,
      podSelector: { matchLabels: { app: 'web' }, matchExpressions: [] },
      proxyProtocol: 'unknown',
    });
  });

  it.each(['policy.linkerd.io/v1beta1', 'policy.linkerd.io/v1beta2', 'meshbus.io/v1alpha1', 'policy.meshbus.io/v1alpha1'])('accepts %s', (apiVersion) => {
    expect(decoded(server({}, apiVersion))).toMatchObject({ apiVersion });
  });

  it('reads a port name, a workload selector with expressions, a protocol and an access policy', () => {
    const spec = {
      port: 'http',
      podSelector: undefined,
      workloadSelector: {
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['web', 'web-canary'] },
          { key: 'example.com/legacy', operator: 'DoesNotExist' },
        ],
      },
      proxyProtocol: 'HTTP/2',
      accessPolicy: 'cluster-authenticated',
    };
    expect(decoded(server(spec))).toEqual({
      kind: 'Server',
      ...base('policy.linkerd.io/v1beta3'),
      port: 'http',
      workloadSelector: {
        matchLabels: {},
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['web', 'web-canary'] },
          { key: 'example.com/legacy', operator: 'DoesNotExist', values: [] },
        ],
      },
      proxyProtocol: 'HTTP/2',
      accessPolicy: 'cluster-authenticated',
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no selector', { podSelector: undefined }, 'spec: set exactly one of podSelector and workloadSelector'],
    ['two selectors', { workloadSelector: {} }, 'spec: set exactly one of podSelector and workloadSelector'],
    ['a port out of range', { port: 70000 }, 'spec.port: 70000 is not a port number (1-65535)'],
    ['a bad port name', { port: 'HTTP' }, `spec.port: "HTTP" is neither a port number nor a port name (at most 15 lowercase letters, digits and '-', with at least one letter)`],
    ['an unknown protocol', { proxyProtocol: 'SMTP' }, 'spec.proxyProtocol: must be one of "unknown", "HTTP/1", "HTTP/2", "gRPC", "opaque", "TLS"'],
    [
      'an unknown access policy',
      { accessPolicy: 'allow' },
      'spec.accessPolicy: must be one of "all-unauthenticated", "all-authenticated", "cluster-unauthenticated", "cluster-authenticated", "deny", "audit"',
    ],
    ['an unknown field', { ports: [80] }, 'spec.ports: is not a known field'],
    ['In without values', { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] } }, 'spec.podSelector.matchExpressions[0].values: must not be empty with operator In'],
    ['Exists with values', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } }, 'spec.podSelector.matchExpressions[0].values: must be empty with operator Exists'],
    ['an unknown operator', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Near' }] } }, 'spec.podSelector.matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist"'],
    ['a bad label key', { podSelector: { matchLabels: { 'a b': 'x' } } }, 'spec.podSelector.matchLabels: "a b" is not a label key'],
    ['a bad label value', { podSelector: { matchLabels: { app: '-web' } } }, 'spec.podSelector.matchLabels["app"]: "-web" is not a label value'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(server(spec))).toContain(expected);
  });
});

const policy = (spec: Record<string, unknown>) => ({
  apiVersion: 'policy.linkerd.io/v1alpha1',
  kind: 'AuthorizationPolicy',
  metadata,
  spec: { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http' }, requiredAuthenticationRefs: [], ...spec },
});

describe('AuthorizationPolicy', () => {
  it('reads the target and the authentications, inferring a group the kind determines', () => {
    const doc = policy({
      targetRef: { group: 'gateway.networking.k8s.io', kind: 'httproute', name: 'web' },
      requiredAuthenticationRefs: [
        { kind: 'MeshTLSAuthentication', name: 'web-clients' },
        { group: 'policy.linkerd.io', kind: 'NetworkAuthentication', name: 'cluster', namespace: 'meshbus' },
        { group: '', kind: 'ServiceAccount', name: 'web' },
      ],
    });
    expect(decoded(doc)).toEqual({
      kind: 'AuthorizationPolicy',
      ...base('policy.linkerd.io/v1alpha1'),
      targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'web' },
      requiredAuthenticationRefs: [
        { group: 'policy.linkerd.io', kind: 'MeshTLSAuthentication', name: 'web-clients' },
        { group: 'policy.linkerd.io', kind: 'NetworkAuthentication', name: 'cluster', namespace: 'meshbus' },
        { group: '', kind: 'ServiceAccount', name: 'web' },
      ],
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['a Server', { group: 'policy.linkerd.io', kind: 'Server', name: 'a' }],
    ['a Linkerd HTTPRoute', { group: 'policy.linkerd.io', kind: 'HTTPRoute', name: 'a' }],
    ['a GRPCRoute', { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'a' }],
    ['its Namespace', { kind: 'Namespace', name: 'shop' }],
  ])('targets %s', (_title, targetRef) => {
    expect(decoded(policy({ targetRef }))).toMatchObject({ targetRef: { name: targetRef.name } });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a target of another kind',
      { targetRef: { group: 'apps', kind: 'Deployment', name: 'web' } },
      'spec.targetRef: Deployment (group apps) cannot be referred to here; allowed: Server (group policy.linkerd.io), HTTPRoute (group policy.linkerd.io), HTTPRoute (group gateway.networking.k8s.io), GRPCRoute (group gateway.networking.k8s.io), Namespace (core group)',
    ],
    ['an HTTPRoute without group', { targetRef: { kind: 'HTTPRoute', name: 'web' } }, 'spec.targetRef.group: is required for kind HTTPRoute, which is in groups "policy.linkerd.io" and "gateway.networking.k8s.io"'],
    ['another namespace', { targetRef: { kind: 'Namespace', name: 'other' } }, 'spec.targetRef.name: a policy may target only its own namespace (shop), not "other"'],
    ['a target in another namespace', { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'a', namespace: 'other' } }, 'spec.targetRef.namespace: "other" is another namespace'],
    [
      'an authentication of the wrong group',
      { requiredAuthenticationRefs: [{ group: 'core', kind: 'MeshTLSAuthentication', name: 'a' }] },
      'spec.requiredAuthenticationRefs[0]: MeshTLSAuthentication (core group) cannot be referred to here; allowed: MeshTLSAuthentication (group policy.linkerd.io), NetworkAuthentication (group policy.linkerd.io), ServiceAccount (core group)',
    ],
    [
      'the same authentication twice',
      { requiredAuthenticationRefs: [{ kind: 'ServiceAccount', name: 'a' }, { group: 'core', kind: 'ServiceAccount', name: 'a' }] },
      'spec.requiredAuthenticationRefs[1]: refers to the same resource as spec.requiredAuthenticationRefs[0]',
    ],
    ['a bad name', { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'Web' } }, 'spec.targetRef.name: "Web" is not a resource name'],
    ['no authentication list', { requiredAuthenticationRefs: undefined }, 'spec.requiredAuthenticationRefs: is required'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(policy(spec))).toContain(expected);
  });
});

const meshTls = (spec: Record<string, unknown>) => ({ apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'MeshTLSAuthentication', metadata, spec });

describe('MeshTLSAuthentication', () => {
  it('reads identities and identity references', () => {
    const spec = {
      identities: ['*', '*.shop.serviceaccount.identity.meshbus.cluster.local', 'web.shop.serviceaccount.identity.meshbus.cluster.local', 'spiffe://cluster.local/ns/shop/sa/web'],
      identityRefs: [{ kind: 'ServiceAccount', name: 'web' }, { kind: 'Namespace', name: 'ops' }],
    };
    expect(decoded(meshTls(spec))).toEqual({
      kind: 'MeshTLSAuthentication',
      ...base('policy.linkerd.io/v1alpha1'),
      identities: spec.identities,
      identityRefs: [
        { group: '', kind: 'ServiceAccount', name: 'web' },
        { group: '', kind: 'Namespace', name: 'ops' },
      ],
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['nothing', {}, 'spec: set identities, identityRefs or both; at least one identity is needed'],
    ['empty lists', { identities: [], identityRefs: [] }, 'spec: set identities, identityRefs or both'],
    ['a bad identity', { identities: ['web shop'] }, `spec.identities[0]: "web shop" is not an identity; write a full identity`],
    ['a wildcard in the middle', { identities: ['web.*.cluster.local'] }, 'spec.identities[0]: "web.*.cluster.local" is not an identity'],
    ['a duplicate identity', { identities: ['*', '*'] }, 'spec.identities[1]: "*" is already given by spec.identities[0]'],
    ['a ref to a Pod', { identityRefs: [{ kind: 'Pod', name: 'web' }] }, 'spec.identityRefs[0]: Pod (core group) cannot be referred to here; allowed: ServiceAccount (core group), Namespace (core group)'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(meshTls(spec))).toContain(expected);
  });
});

const networks = (list: unknown) => ({ apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'NetworkAuthentication', metadata, spec: { networks: list } });

describe('NetworkAuthentication', () => {
  it('reads IPv4 and IPv6 networks in canonical form; a bare address is one host', () => {
    expect(
      decoded(
        networks([
          { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4'] },
          { cidr: 'FD00:0:0::/16', except: ['fd00:0::1'] },
          { cidr: '0.0.0.0/0' },
          { cidr: '192.168.1.7' },
        ]),
      ),
    ).toEqual({
      kind: 'NetworkAuthentication',
      ...base('policy.linkerd.io/v1alpha1'),
      networks: [
        { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] },
        { cidr: 'fd00::/16', except: ['fd00::1/128'] },
        { cidr: '0.0.0.0/0', except: [] },
        { cidr: '192.168.1.7/32', except: [] },
      ],
    });
  });

  it.each<[string, unknown, string]>([
    ['no network', [], 'spec.networks: must NOT have fewer than 1 items'],
    ['host bits', [{ cidr: '10.0.0.1/8' }], 'spec.networks[0].cidr: "10.0.0.1/8" has bits set after the /8 prefix; the network is written 10.0.0.0/8'],
    ['IPv6 host bits', [{ cidr: 'fd00::1/64' }], 'spec.networks[0].cidr: "fd00::1/64" has bits set after the /64 prefix; the network is written fd00::/64'],
    ['a prefix too long', [{ cidr: '10.0.0.0/33' }], 'spec.networks[0].cidr: "10.0.0.0/33": the prefix length must be a number from 0 to 32'],
    ['no address', [{ cidr: 'cluster' }], 'spec.networks[0].cidr: "cluster" is not a network'],
    ['an exception outside', [{ cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }], 'spec.networks[0].except[0]: "11.0.0.0/16" is not inside spec.networks[0].cidr 10.0.0.0/8'],
    ['an exception of the other family', [{ cidr: '10.0.0.0/8', except: ['fd00::/16'] }], 'spec.networks[0].except[0]: "fd00::/16" is not inside spec.networks[0].cidr 10.0.0.0/8'],
    ['an exception wider than the network', [{ cidr: '10.1.0.0/16', except: ['10.0.0.0/8'] }], 'spec.networks[0].except[0]: "10.0.0.0/8" is not inside'],
  ])('refuses %s', (_title, list, expected) => {
    expect(reason(networks(list))).toContain(expected);
  });
});

const rateLimit = (spec: Record<string, unknown>) => ({
  apiVersion: 'policy.linkerd.io/v1alpha1',
  kind: 'HTTPLocalRateLimitPolicy',
  metadata,
  spec: { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http' }, ...spec },
});

describe('HTTPLocalRateLimitPolicy', () => {
  it('reads the total, per-identity and override limits', () => {
    const spec = { total: { requestsPerSecond: 1000 }, identity: { requestsPerSecond: 100 }, overrides: [{ requestsPerSecond: 500, clientRefs: [{ kind: 'ServiceAccount', name: 'web', namespace: 'shop' }] }] };
    expect(decoded(rateLimit(spec))).toEqual({
      kind: 'HTTPLocalRateLimitPolicy',
      ...base('policy.linkerd.io/v1alpha1'),
      targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http' },
      total: { requestsPerSecond: 1000 },
      identity: { requestsPerSecond: 100 },
      overrides: [{ requestsPerSecond: 500, clientRefs: [{ group: '', kind: 'ServiceAccount', name: 'web', namespace: 'shop' }] }],
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a Service target', { targetRef: { group: '', kind: 'Service', name: 'web' } }, 'spec.targetRef: Service (core group) cannot be referred to here; allowed: Server (group policy.linkerd.io)'],
    ['a zero rate', { total: { requestsPerSecond: 0 } }, 'spec.total.requestsPerSecond: must be >= 1'],
    ['an identity limit above the total', { total: { requestsPerSecond: 10 }, identity: { requestsPerSecond: 20 } }, 'spec.identity.requestsPerSecond: 20 is more than spec.total.requestsPerSecond (10)'],
    ['an override above the total', { total: { requestsPerSecond: 10 }, overrides: [{ requestsPerSecond: 20, clientRefs: [{ kind: 'ServiceAccount', name: 'a' }] }] }, 'spec.overrides[0].requestsPerSecond: 20 is more than spec.total.requestsPerSecond (10)'],
    ['an override for a Namespace', { overrides: [{ requestsPerSecond: 20, clientRefs: [{ kind: 'Namespace', name: 'a' }] }] }, 'spec.overrides[0].clientRefs[0]: Namespace (core group) cannot be referred to here; allowed: ServiceAccount (core group)'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(rateLimit(spec))).toContain(expected);
  });
});

const fault = (spec: Record<string, unknown>) => ({ apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'HTTPFaultInjection', metadata, spec });

describe('HTTPFaultInjection', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['a whole percentage', { abort: { httpStatus: 503 }, percentage: 10 }, { httpStatus: 503, message: '', ratio: { numerator: 10, denominator: 100 } }],
    ['a decimal percentage', { abort: { httpStatus: 500, message: 'injected' }, percentage: 12.5 }, { httpStatus: 500, message: 'injected', ratio: { numerator: 125, denominator: 1000 } }],
    ['a ratio and a gRPC status', { abort: { grpcStatus: 14 }, ratio: { numerator: 1, denominator: 3 } }, { grpcStatus: 14, message: '', ratio: { numerator: 1, denominator: 3 } }],
  ])('reads %s', (_title, spec, abort) => {
    expect(decoded(fault(spec))).toEqual({ kind: 'HTTPFaultInjection', ...base('policy.meshbus.io/v1alpha1'), abort });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no status', { abort: {}, percentage: 1 }, 'spec.abort: set exactly one of httpStatus and grpcStatus'],
    ['two statuses', { abort: { httpStatus: 500, grpcStatus: 2 }, percentage: 1 }, 'spec.abort: set exactly one of httpStatus and grpcStatus'],
    ['no share', { abort: { httpStatus: 500 } }, 'spec: set exactly one of percentage (0 to 100) and ratio {numerator, denominator}'],
    ['a percentage above 100', { abort: { httpStatus: 500 }, percentage: 101 }, 'spec.percentage: must be <= 100'],
    ['too many decimals', { abort: { httpStatus: 500 }, percentage: 0.0000001 }, 'spec.percentage: 1e-7 has more than 6 decimals'],
    ['a ratio above 1', { abort: { httpStatus: 500 }, ratio: { numerator: 3, denominator: 2 } }, 'spec.ratio: numerator 3 is more than denominator 2'],
    ['a zero denominator', { abort: { httpStatus: 500 }, ratio: { numerator: 0, denominator: 0 } }, 'spec.ratio.denominator: must be >= 1'],
    ['a status out of range', { abort: { httpStatus: 600 }, percentage: 1 }, 'spec.abort.httpStatus: must be <= 599'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(fault(spec))).toContain(expected);
  });
});

describe('default inbound policy annotations', () => {
  const namespace = (annotations: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations } });
  const workload = (annotations: Record<string, string>) => ({ apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: { name: 'web-1', namespace: 'shop', annotations }, spec: { address: '10.0.0.1' } });

  it('reads the meshbus annotation, which wins over the Linkerd one', () => {
    expect(decoded(namespace({ 'config.linkerd.io/default-inbound-policy': 'deny' }))).toMatchObject({ defaultInboundPolicy: 'deny' });
    expect(decoded(workload({ 'config.linkerd.io/default-inbound-policy': 'deny', 'config.meshbus.io/default-inbound-policy': 'audit' }))).toMatchObject({ defaultInboundPolicy: 'audit' });
    expect(decoded(namespace({}))).not.toHaveProperty('defaultInboundPolicy');
  });

  it.each([namespace, workload])('refuses a value that is not a policy, naming the six', (make) => {
    expect(reason(make({ 'config.meshbus.io/default-inbound-policy': 'allow' }))).toBe(
      'metadata.annotations["config.meshbus.io/default-inbound-policy"]: "allow" is not a default inbound policy; use one of all-unauthenticated, all-authenticated, cluster-unauthenticated, cluster-authenticated, deny, audit',
    );
  });
});

describe('the policy.meshbus.io group of the installed CustomResourceDefinitions', () => {
  const inMeshbusGroup = (document: Record<string, unknown>) => ({ ...document, apiVersion: 'policy.meshbus.io/v1alpha1' });

  it.each<[string, Record<string, unknown>]>([
    ['AuthorizationPolicy', policy({})],
    ['MeshTLSAuthentication', meshTls({ identities: ['*'] })],
    ['NetworkAuthentication', networks([{ cidr: '10.0.0.0/8' }])],
    ['HTTPLocalRateLimitPolicy', rateLimit({ total: { requestsPerSecond: 10 } })],
  ])('reads %s as the same resource as in the Linkerd group', (kind, document) => {
    const linkerd = decoded(document);
    const meshbus = decoded(inMeshbusGroup(document));
    expect(meshbus).toEqual({ ...linkerd, apiVersion: 'policy.meshbus.io/v1alpha1' });
    expect(meshbus.kind).toBe(kind);
  });

  it('names the meshbus group among the versions it accepts', () => {
    expect(reason({ ...policy({}), apiVersion: 'policy.meshbus.io/v1beta1' })).toContain('policy.meshbus.io/v1alpha1');
    expect(reason({ ...server({}), apiVersion: 'policy.meshbus.io/v1' })).toContain('policy.meshbus.io/v1alpha1');
  });
});
