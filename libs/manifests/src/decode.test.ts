import { describe, expect, it } from 'vitest';
import { decodeDocument } from './decode.js';

const service = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop', ...metadata },
  spec,
});

const workload = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'meshbus.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'web-1', namespace: 'shop', ...metadata },
  spec: { address: '127.0.0.1', ...spec },
});

const profile = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}, apiVersion = 'linkerd.io/v1alpha2') => ({
  apiVersion,
  kind: 'ServiceProfile',
  metadata: { name: 'api.shop.svc.cluster.local', namespace: 'shop', ...metadata },
  spec,
});

const route = (extra: Record<string, unknown> = {}) => ({ name: 'r', condition: { method: 'GET' }, ...extra });

describe('decodeDocument accepts', () => {
  it.each<[string, unknown, Record<string, unknown>]>([
    ['a Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'a' } } }, { kind: 'Namespace', name: 'shop', labels: { team: 'a' } }],
    ['a ServiceAccount in the default namespace', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' } }, { namespace: 'default', name: 'web' }],
    [
      'a Service, defaulting targetPort to port and leaving out UDP ports',
      service({
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' },
          { name: 'admin', port: 9990 },
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      }),
      {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' },
          { name: 'admin', port: 9990, targetPort: 9990 },
          { name: 'dns-tcp', port: 53, targetPort: 53 },
        ],
        opaquePorts: [],
      },
    ],
    [
      'a Service with the fields of a cluster (clusterIP, type, status)',
      { ...service({ type: 'ClusterIP', clusterIP: '10.0.0.1', ports: [{ port: 80, nodePort: 30080 }] }, { uid: 'x', resourceVersion: '1' }), status: {} },
      { ports: [{ port: 80, targetPort: 80 }] },
    ],
    ['a Service without selector', service({ ports: [{ port: 80 }] }), { selector: undefined }],
    ['a Service with an empty selector', service({ selector: {}, ports: [{ port: 80 }] }), { selector: undefined }],
    ['a Service with a null selector', service({ selector: null, ports: [{ port: 80 }] }), { selector: undefined }],
    ['a Service without ports', service({ clusterIP: 'None' }), { ports: [] }],
    [
      'opaque Service ports',
      service({ ports: [{ port: 3306 }] }, { annotations: { 'config.meshbus.io/opaque-ports': '3306, 5000-5002' } }),
      { opaquePorts: [{ min: 3306, max: 3306 }, { min: 5000, max: 5002 }] },
    ],
    [
      'a Workload, with defaults',
      workload({}),
      { address: '127.0.0.1', ports: [], serviceAccount: 'default', ready: true, meshed: true, weight: 10000, opaquePorts: [], zone: undefined },
    ],
    [
      'a Workload with every field',
      workload(
        { address: 'fd00::1', ports: [{ name: 'http', port: 8080 }, { port: 9000 }], serviceAccount: 'web', ready: false, meshed: false, zone: 'z1', weight: 0 },
        { labels: { app: 'web' }, annotations: { 'config.meshbus.io/opaque-ports': '9000' } },
      ),
      {
        labels: { app: 'web' },
        address: 'fd00::1',
        ports: [{ name: 'http', port: 8080 }, { port: 9000 }],
        serviceAccount: 'web',
        ready: false,
        meshed: false,
        zone: 'z1',
        weight: 0,
        opaquePorts: [{ min: 9000, max: 9000 }],
      },
    ],
    [
      'a ServiceProfile, normalising durations and weights',
      profile({
        routes: [
          {
            name: 'GET /books',
            condition: { method: 'GET', pathRegex: '/books/\\d+' },
            responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }, { condition: { not: { status: { max: 299 } } } }],
            isRetryable: true,
            timeout: '1.5s',
          },
          { name: 'other', condition: { any: [{ method: 'PUT' }, { not: { pathRegex: '/x' } }] } },
        ],
        retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' },
        dstOverrides: [
          { authority: 'api.shop.svc.cluster.local:8080', weight: '500m' },
          { authority: 'api-v2.shop.svc.cluster.local:8080', weight: 0.5 },
          { authority: 'api-v3.shop.svc.cluster.local:8080', weight: 1 },
        ],
        opaquePorts: [9000, 80, 9000],
      }),
      {
        target: { service: 'api', namespace: 'shop', clusterDomain: 'cluster.local' },
        routes: [
          {
            name: 'GET /books',
            condition: { method: 'GET', pathRegex: '/books/\\d+' },
            responseClasses: [
              { condition: { status: { min: 500, max: 599 } }, isFailure: true },
              { condition: { not: { status: { max: 299 } } }, isFailure: false },
            ],
            isRetryable: true,
            timeoutMs: 1500,
          },
          { name: 'other', condition: { any: [{ method: 'PUT' }, { not: { pathRegex: '/x' } }] }, responseClasses: [], isRetryable: false },
        ],
        retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 },
        dstOverrides: [
          { authority: 'api.shop.svc.cluster.local:8080', weight: 500 },
          { authority: 'api-v2.shop.svc.cluster.local:8080', weight: 500 },
          { authority: 'api-v3.shop.svc.cluster.local:8080', weight: 1000 },
        ],
        opaquePorts: [80, 9000],
      },
    ],
    ['a meshbus.io ServiceProfile with an empty spec', profile({}, {}, 'meshbus.io/v1alpha1'), { routes: [], dstOverrides: [], opaquePorts: [], retryBudget: undefined }],
    [
      'a ServiceProfile for another cluster domain',
      profile({}, { name: 'api.shop.svc.example.org' }),
      { target: { service: 'api', namespace: 'shop', clusterDomain: 'example.org' } },
    ],
  ])('%s', (_title, document, expected) => {
    const decoded = decodeDocument(document);
    if (!decoded.ok) expect.fail(decoded.reason);
    const present = Object.entries(expected).filter(([, value]) => value !== undefined);
    expect(decoded.resource).toMatchObject(Object.fromEntries(present));
    for (const [key, value] of Object.entries(expected)) if (value === undefined) expect(decoded.resource).not.toHaveProperty(key);
  });
});

describe('decodeDocument refuses', () => {
  it.each<[string, unknown, RegExp]>([
    ['a list', ['a'], /is not a mapping/],
    ['a scalar', 'text', /is not a mapping/],
    ['a document without kind', { apiVersion: 'v1', metadata: { name: 'a' } }, /apiVersion and kind are required/],
    ['an unknown kind', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a' } }, /^unknown kind: apps\/v1 Deployment$/],
    ['a known kind with another apiVersion', { apiVersion: 'linkerd.io/v1alpha1', kind: 'ServiceProfile', metadata: { name: 'a' } }, /unknown kind.*read with apiVersion linkerd\.io\/v1alpha2 or meshbus\.io\/v1alpha1/],
    ['a resource without name', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: {} }, /metadata\.name: is required/],
    ['a resource without metadata', { apiVersion: 'v1', kind: 'ServiceAccount' }, /metadata: is required/],
    ['a Namespace name that is not a DNS-1123 label', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Shop' } }, /metadata\.name: "Shop" is not a DNS-1123 label/],
    ['a namespace that is not a DNS-1123 label', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'a', namespace: 'a.b' } }, /metadata\.namespace: "a\.b" is not a DNS-1123 label/],
    ['a Service name starting with a digit', service({}, { name: '1web' }), /metadata\.name: "1web" is not a DNS-1035 label/],
    ['a Service without spec', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } }, /^spec: is required$/],
    ['a label value that is not a string', service({}, { labels: { version: 2 } }), /metadata\.labels\.version: must be a string/],
    ['an annotation key that needs quoting, with a wrong value', service({}, { annotations: { 'x.io/y': true } }), /metadata\.annotations\["x\.io\/y"\]: must be a string/],
    ['a Service port out of range', service({ ports: [{ port: 70000 }] }), /spec\.ports\[0\]\.port: must be <= 65535/],
    ['a Service port protocol', service({ ports: [{ port: 80, protocol: 'HTTP' }] }), /spec\.ports\[0\]\.protocol: must be one of "TCP", "UDP", "SCTP"/],
    ['unnamed ports of a multi-port Service', service({ ports: [{ port: 80 }, { name: 'b', port: 81 }] }), /spec\.ports\[0\]\.name: is required when a Service has more than one port/],
    ['duplicate Service port names', service({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), /spec\.ports\[1\]\.name: "a" is already used by spec\.ports\[0\]/],
    ['duplicate Service port numbers', service({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), /spec\.ports\[1\]\.port: 80\/TCP is already used by spec\.ports\[0\]/],
    ['a targetPort name that is not a port name', service({ ports: [{ port: 80, targetPort: 'HTTP_1' }] }), /targetPort: "HTTP_1" is neither a port number nor a port name/],
    ['a targetPort number as a string', service({ ports: [{ port: 80, targetPort: '8080' }] }), /targetPort: "8080" is neither a port number nor a port name/],
    ['a targetPort out of range', service({ ports: [{ port: 80, targetPort: 0 }] }), /targetPort: 0 is not a port number/],
    ['a targetPort that is neither', service({ ports: [{ port: 80, targetPort: true }] }), /targetPort: must be an integer or a string/],
    ['an unreadable opaque-ports annotation', service({}, { annotations: { 'config.meshbus.io/opaque-ports': 'mysql' } }), /opaque-ports"\]: "mysql" is not a port/],
    ['a Workload address that is not an IP', workload({ address: 'db.local' }), /spec\.address: "db\.local" is not an IPv4 or IPv6 address/],
    ['a Workload without address', { apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: { name: 'a' }, spec: {} }, /spec\.address: is required/],
    ['an unknown Workload field', workload({ labels: { app: 'web' } }), /spec\.labels: is not a known field/],
    ['a Workload name with capitals', workload({}, { name: 'Web' }), /metadata\.name: "Web" is not a DNS-1123 label/],
    ['a negative Workload weight', workload({ weight: -1 }), /spec\.weight: must be >= 0/],
    ['a Workload that is ready "yes"', workload({ ready: 'yes' }), /spec\.ready: must be true or false/],
    ['a Workload port name that is too long', workload({ ports: [{ name: 'a-very-long-port', port: 1 }] }), /is not a port name/],
    ['duplicate Workload port names', workload({ ports: [{ name: 'http', port: 1 }, { name: 'http', port: 2 }] }), /spec\.ports\[1\]\.name: "http" is already used/],
    ['duplicate Workload port numbers', workload({ ports: [{ name: 'a', port: 1 }, { name: 'b', port: 1 }] }), /spec\.ports\[1\]\.port: 1 is already used/],
    ['a ServiceProfile without spec', { ...profile({}), spec: undefined }, /^spec: is required$/],
    ['a ServiceProfile not named after a service', profile({}, { name: 'api.example.com' }), /metadata\.name: "api\.example\.com" is not a service FQDN/],
    ['a ServiceProfile with a service name starting with a digit', profile({}, { name: '1api.shop.svc.cluster.local' }), /is not a service FQDN/],
    ['a ServiceProfile in another namespace', profile({}, { namespace: 'web' }), /a profile must be in its service's namespace \(set metadata\.namespace: shop\)/],
    ['a ServiceProfile in the default namespace by omission', profile({}, { namespace: undefined }), /set metadata\.namespace: shop/],
    ['a route regex that does not compile', profile({ routes: [route({ condition: { pathRegex: '/books/(' } })] }), /spec\.routes\[0\]\.condition\.pathRegex: "\/books\/\(" is not a valid regular expression/],
    ['a nested route regex that does not compile', profile({ routes: [route({ condition: { all: [{ method: 'GET' }, { not: { pathRegex: '[' } }] } })] }), /condition\.all\[1\]\.not\.pathRegex/],
    ['an empty route condition', profile({ routes: [route({ condition: {} })] }), /spec\.routes\[0\]\.condition: must not be empty/],
    ['a route without condition', profile({ routes: [{ name: 'r' }] }), /spec\.routes\[0\]\.condition: is required/],
    ['a misspelt route field', profile({ routes: [route({ isRetriable: true })] }), /spec\.routes\[0\]\.isRetriable: is not a known field/],
    ['a timeout that is not a duration', profile({ routes: [route({ timeout: '5' })] }), /spec\.routes\[0\]\.timeout: "5" is not a duration/],
    ['a negative timeout', profile({ routes: [route({ timeout: '-1s' })] }), /timeout: "-1s" is negative/],
    ['duplicate route names', profile({ routes: [route(), route()] }), /spec\.routes\[1\]\.name: "r" is already used by spec\.routes\[0\]/],
    ['a status range upside down', profile({ routes: [route({ responseClasses: [{ condition: { status: { min: 500, max: 400 } } }] })] }), /status: min 500 is greater than max 400/],
    ['a status out of range', profile({ routes: [route({ responseClasses: [{ condition: { status: { min: 99 } } }] })] }), /status\.min: must be >= 100/],
    ['a retry budget without ttl', profile({ retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10 } }), /spec\.retryBudget\.ttl: is required/],
    ['a retry budget ttl that is not a duration', profile({ retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 'ten' } }), /spec\.retryBudget\.ttl: "ten" is not a duration/],
    ['a negative retry ratio', profile({ retryBudget: { retryRatio: -1, minRetriesPerSecond: 10, ttl: '1s' } }), /retryRatio: must be >= 0/],
    ['a negative weight', profile({ dstOverrides: [{ authority: 'a', weight: -1 }] }), /spec\.dstOverrides\[0\]\.weight: -1 is negative/],
    ['a negative quantity', profile({ dstOverrides: [{ authority: 'a', weight: '-500m' }] }), /weight: "-500m" is negative/],
    ['a weight that is not a quantity', profile({ dstOverrides: [{ authority: 'a', weight: 'half' }] }), /weight: "half" is not a number or a Kubernetes quantity/],
    ['a weight too large for the proxy API', profile({ dstOverrides: [{ authority: 'a', weight: '5M' }] }), /weight: "5M" is larger than/],
    ['an override without authority', profile({ dstOverrides: [{ weight: 1 }] }), /spec\.dstOverrides\[0\]\.authority: is required/],
    ['a policy resource name that is not a subdomain', { apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'Web_HTTP' }, spec: { port: 80, podSelector: {} } }, /is not a DNS-1123 subdomain/],
  ])('%s', (_title, document, reason) => {
    const decoded = decodeDocument(document);
    if (decoded.ok) expect.fail('accepted');
    expect(decoded.reason).toMatch(reason);
  });

  it('identifies a refused resource by kind, namespace and name when it can', () => {
    expect(decodeDocument(workload({ address: 'x' }))).toMatchObject({ ok: false, key: 'Workload/shop/web-1', ref: { kind: 'Workload', namespace: 'shop', name: 'web-1' } });
    expect(decodeDocument({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad' } })).toMatchObject({ ref: { kind: 'Namespace', name: 'Bad' } });
    const unknown = decodeDocument({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a', namespace: 'b' } });
    expect(unknown).toMatchObject({ ok: false, ref: { kind: 'Deployment', namespace: 'b', name: 'a' } });
    expect(unknown).not.toHaveProperty('key');
  });

  it('reports every problem of a resource at once, up to a limit', () => {
    const decoded = decodeDocument(service({ ports: Array.from({ length: 12 }, () => ({ name: 'same', port: 80 })) }));
    if (decoded.ok) expect.fail('accepted');
    expect(decoded.reason).toMatch(/; and \d+ more$/);
  });

  it('gives ServiceProfiles of both apiVersions the same identity', () => {
    const a = decodeDocument(profile({}));
    const b = decodeDocument(profile({}, {}, 'meshbus.io/v1alpha1'));
    expect(a.ok && b.ok && a.key === b.key).toBe(true);
  });

  it('keeps HTTPRoutes of the two API groups apart', () => {
    const spec = { parentRefs: [{ kind: 'Service', name: 'web' }] };
    const a = decodeDocument({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec });
    const b = decodeDocument({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'HTTPRoute', metadata: { name: 'r' }, spec });
    expect(a.ok && b.ok && a.key !== b.key).toBe(true);
  });
});
