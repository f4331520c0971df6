import { describe, expect, it } from 'vitest';
import type { EventKind } from './catalog.js';
import { busValidator } from './validation.js';

const v = busValidator();

const endpoint = { address: '10.0.0.1', port: 8080, weight: 10000 };
const endpointSet = (patch: Record<string, unknown> = {}, ep: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  endpoints: [{ ...endpoint, ...ep }],
  ...patch,
});
const registration = (patch: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  name: 'vm-1',
  address: '192.0.2.4',
  ports: [{ port: 80 }],
  heartbeatIntervalMs: 1000,
  ...patch,
});
const profile = (patch: Record<string, unknown> = {}, route: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  service: 'web',
  routes: [{ name: 'GET /', condition: { method: 'GET' }, ...route }],
  dstOverrides: [],
  opaquePorts: [],
  ...patch,
});

const injection = (patch: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  generateName: 'web-',
  result: 'skipped',
  reason: { code: 'NotEnabled', message: 'not enabled' },
  proxyVersion: '0.1.0',
  dryRun: false,
  uid: 'a6c1',
  replica: 'injector-1',
  ...patch,
});

const summary = (patch: Record<string, unknown> = {}, row: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  workload: 'web',
  identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
  instance: 'web-1',
  intervalStart: '2026-01-01T00:00:00Z',
  intervalMs: 10000,
  latencyBoundsMs: [1, 10, 100],
  requests: [{ direction: 'inbound', authority: '', route: '', statusClass: 2, tls: true, success: 1, failure: 0, latency: [1, 0, 0, 0], ...row }],
  tcp: [],
  ...patch,
});

const label = (n: number) => 'a'.repeat(n);
/** A DNS-1123 subdomain of exactly `n` characters: 63-character labels joined by dots. */
const subdomain = (n: number) => {
  const parts: string[] = [];
  let left = n;
  while (left > 0) {
    const len = Math.min(63, left);
    parts.push('a'.repeat(len));
    left -= len + 1;
  }
  const s = parts.join('.');
  return s.length === n ? s : s.slice(0, n - 1) + 'b';
};

/** Each case: the largest (or smallest) valid value, the first invalid one, and the message naming the field. */
interface Bound {
  what: string;
  kind: EventKind;
  ok: unknown;
  bad: unknown;
  error: RegExp;
}

const bounds: Bound[] = [
  {
    what: 'metrics summary: workload is a DNS-1123 label',
    kind: 'metricsSummary',
    ok: summary({ workload: label(63) }),
    bad: summary({ workload: 'Web' }),
    error: /\/workload must match pattern/,
  },
  {
    what: 'metrics summary: at most 1000 request rows',
    kind: 'metricsSummary',
    ok: summary({ requests: Array.from({ length: 1000 }, () => summary().requests[0]) }),
    bad: summary({ requests: Array.from({ length: 1001 }, () => summary().requests[0]) }),
    error: /\/requests must NOT have more than 1000 items/,
  },
  {
    what: 'metrics summary: counts are not negative',
    kind: 'metricsSummary',
    ok: summary({}, { failure: 0 }),
    bad: summary({}, { failure: -1 }),
    error: /\/requests\/0\/failure must be >= 0/,
  },
  {
    what: 'namespace: DNS-1123 label of 63',
    kind: 'endpointSet',
    ok: endpointSet({ namespace: label(63) }),
    bad: endpointSet({ namespace: label(64) }),
    error: /\/namespace must NOT have more than 63 characters/,
  },
  {
    what: 'namespace pattern',
    kind: 'endpointSet',
    ok: endpointSet({ namespace: 'a-1' }),
    bad: endpointSet({ namespace: 'A-1' }),
    error: /\/namespace must match pattern/,
  },
  {
    what: 'service name: DNS-1035 label of 63',
    kind: 'endpointSet',
    ok: endpointSet({ service: label(63) }),
    bad: endpointSet({ service: label(64) }),
    error: /\/service must NOT have more than 63 characters/,
  },
  {
    what: 'port 1..65535',
    kind: 'endpointSet',
    ok: endpointSet({}, { port: 65535 }),
    bad: endpointSet({}, { port: 65536 }),
    error: /\/endpoints\/0\/port must be <= 65535/,
  },
  { what: 'port not 0', kind: 'endpointSet', ok: endpointSet({}, { port: 1 }), bad: endpointSet({}, { port: 0 }), error: /\/endpoints\/0\/port must be >= 1/ },
  {
    what: 'weight: uint32',
    kind: 'endpointSet',
    ok: endpointSet({}, { weight: 2 ** 32 - 1 }),
    bad: endpointSet({}, { weight: 2 ** 32 }),
    error: /\/endpoints\/0\/weight must be <= 4294967295/,
  },
  {
    what: 'zone: label value of 63',
    kind: 'endpointSet',
    ok: endpointSet({}, { zone: label(63) }),
    bad: endpointSet({}, { zone: label(64) }),
    error: /\/endpoints\/0\/zone must NOT have more than 63 characters/,
  },
  {
    what: 'zone pattern',
    kind: 'endpointSet',
    ok: endpointSet({}, { zone: 'eu-west_1.a' }),
    bad: endpointSet({}, { zone: 'eu west' }),
    error: /\/endpoints\/0\/zone must match pattern/,
  },
  {
    what: 'address length',
    kind: 'endpointSet',
    ok: endpointSet({}, { address: '0000:0000:0000:0000:0000:ffff:192.168.100.228' }),
    bad: endpointSet({}, { address: '0000:0000:0000:0000:0000:ffff:192.168.100.2288' }),
    error: /\/endpoints\/0\/address must NOT have more than 45 characters/,
  },
  {
    what: 'identity: DNS subdomain of 253',
    kind: 'endpointSet',
    ok: endpointSet({}, { identity: subdomain(253) }),
    bad: endpointSet({}, { identity: subdomain(254) }),
    error: /\/endpoints\/0\/identity must NOT have more than 253 characters/,
  },
  {
    what: 'workload name: DNS subdomain of 253',
    kind: 'endpointSet',
    ok: endpointSet({}, { workload: { kind: 'Pod', namespace: 'shop', name: subdomain(253) } }),
    bad: endpointSet({}, { workload: { kind: 'Pod', namespace: 'shop', name: subdomain(254) } }),
    error: /\/endpoints\/0\/workload\/name must NOT have more than 253 characters/,
  },
  {
    what: 'label value of 63',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: { app: label(63) } }),
    bad: endpointSet({}, { labels: { app: label(64) } }),
    error: /\/endpoints\/0\/labels\/app must NOT have more than 63 characters/,
  },
  {
    what: 'label value pattern',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: { app: '' } }),
    bad: endpointSet({}, { labels: { app: '-web' } }),
    error: /\/endpoints\/0\/labels\/app must match pattern/,
  },
  {
    what: 'label key name of 63',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: { [label(63)]: 'x' } }),
    bad: endpointSet({}, { labels: { [label(64)]: 'x' } }),
    error: new RegExp(`/endpoints/0/labels key "${label(64)}" must match pattern`),
  },
  {
    what: 'label key prefix of 253',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: { [`${subdomain(253)}/${label(63)}`]: 'x' } }),
    bad: endpointSet({}, { labels: { [`${subdomain(254)}/app`]: 'x' } }),
    error: /\/endpoints\/0\/labels key "a+\..*\/app" must match pattern/,
  },
  {
    what: 'label key pattern',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: { 'app.kubernetes.io/name': 'x' } }),
    bad: endpointSet({}, { labels: { 'App.io/name': 'x' } }),
    error: /\/endpoints\/0\/labels key "App.io\/name" must match pattern/,
  },
  {
    what: 'labels per endpoint',
    kind: 'endpointSet',
    ok: endpointSet({}, { labels: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`l${i}`, 'x'])) }),
    bad: endpointSet({}, { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'x'])) }),
    error: /\/endpoints\/0\/labels must NOT have more than 64 properties/,
  },
  {
    what: 'endpoints per set',
    kind: 'endpointSet',
    ok: endpointSet({ endpoints: Array.from({ length: 100_000 }, () => endpoint) }),
    bad: endpointSet({ endpoints: Array.from({ length: 100_001 }, () => endpoint) }),
    error: /\/endpoints must NOT have more than 100000 items/,
  },
  {
    what: 'registration name: label of 63',
    kind: 'workloadRegistered',
    ok: registration({ name: label(63) }),
    bad: registration({ name: label(64) }),
    error: /\/name must NOT have more than 63 characters/,
  },
  {
    what: 'registration weight: uint32',
    kind: 'workloadRegistered',
    ok: registration({ weight: 2 ** 32 - 1 }),
    bad: registration({ weight: 2 ** 32 }),
    error: /\/weight must be <= 4294967295/,
  },
  {
    what: 'registration zone',
    kind: 'workloadRegistered',
    ok: registration({ zone: label(63) }),
    bad: registration({ zone: 'z'.repeat(600_000) }),
    error: /\/zone must NOT have more than 63 characters/,
  },
  {
    what: 'registration label value',
    kind: 'workloadRegistered',
    ok: registration({ labels: { app: label(63) } }),
    bad: registration({ labels: { app: label(64) } }),
    error: /\/labels\/app must NOT have more than 63 characters/,
  },
  {
    what: 'registration service account',
    kind: 'workloadRegistered',
    ok: registration({ serviceAccount: label(63) }),
    bad: registration({ serviceAccount: label(64) }),
    error: /\/serviceAccount must NOT have more than 63 characters/,
  },
  {
    what: 'registration ports',
    kind: 'workloadRegistered',
    ok: registration({ ports: Array.from({ length: 1024 }, (_, i) => ({ port: i + 1 })) }),
    bad: registration({ ports: Array.from({ length: 1025 }, (_, i) => ({ port: i + 1 })) }),
    error: /\/ports must NOT have more than 1024 items/,
  },
  {
    what: 'routes per profile',
    kind: 'serviceProfile',
    ok: profile({ routes: Array.from({ length: 1000 }, (_, i) => ({ name: `r${i}`, condition: { method: 'GET' } })) }),
    bad: profile({ routes: Array.from({ length: 1001 }, (_, i) => ({ name: `r${i}`, condition: { method: 'GET' } })) }),
    error: /\/routes must NOT have more than 1000 items/,
  },
  {
    what: 'route name length',
    kind: 'serviceProfile',
    ok: profile({}, { name: 'r'.repeat(1024) }),
    bad: profile({}, { name: 'r'.repeat(1025) }),
    error: /\/routes\/0\/name must NOT have more than 1024 characters/,
  },
  {
    what: 'traffic split weight: uint32',
    kind: 'serviceProfile',
    ok: profile({ dstOverrides: [{ authority: 'web-v2.shop.svc.cluster.local:80', weight: 2 ** 32 - 1 }] }),
    bad: profile({ dstOverrides: [{ authority: 'web-v2.shop.svc.cluster.local:80', weight: 2 ** 32 }] }),
    error: /\/dstOverrides\/0\/weight must be <= 4294967295/,
  },
  {
    what: 'tombstone reason',
    kind: 'endpointSetDeleted',
    ok: { reason: 'r'.repeat(1024) },
    bad: { reason: 'r'.repeat(1025) },
    error: /\/reason must NOT have more than 1024 characters/,
  },
  {
    what: 'manifest rejection reason',
    kind: 'manifestRejected',
    ok: { file: 'a.yaml', reason: 'r'.repeat(65536) },
    bad: { file: 'a.yaml', reason: 'r'.repeat(65537) },
    error: /\/reason must NOT have more than 65536 characters/,
  },
  {
    what: 'leader role',
    kind: 'leaderChanged',
    ok: { role: label(63), holder: 'r1', term: 1 },
    bad: { role: label(64), holder: 'r1', term: 1 },
    error: /\/role must NOT have more than 63 characters/,
  },
  {
    what: 'pod injection reason message',
    kind: 'podInjection',
    ok: injection({ reason: { code: 'NotEnabled', message: 'm'.repeat(1024) } }),
    bad: injection({ reason: { code: 'NotEnabled', message: 'm'.repeat(1025) } }),
    error: /\/reason\/message must NOT have more than 1024 characters/,
  },
  {
    what: 'pod injection pod name: DNS-1123 subdomain of 253',
    kind: 'podInjection',
    ok: injection({ name: subdomain(253) }),
    bad: injection({ name: subdomain(254) }),
    error: /\/name must NOT have more than 253 characters/,
  },
  {
    what: 'pod injection admission uid',
    kind: 'podInjection',
    ok: injection({ uid: 'u'.repeat(128) }),
    bad: injection({ uid: 'u'.repeat(129) }),
    error: /\/uid must NOT have more than 128 characters/,
  },
];

describe('every bus schema bounds what it accepts', () => {
  it.each(bounds)('$what: accepts the edge, refuses one past it naming the field', ({ kind, ok, bad, error }) => {
    expect(() => v.check(kind, ok)).not.toThrow();
    expect(() => v.check(kind, bad)).toThrow(error);
  });
});
