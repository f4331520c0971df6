import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalog, extensionAttributes, type EventKind } from './catalog.js';
import { subjects, parseStateSubject, SubjectError } from './subjects.js';
import { busValidator, SchemaValidationError, type BusValidator } from './validation.js';

const endpointSet = {
  namespace: 'shop',
  service: 'web',
  port: 80,
  endpoints: [{ address: '10.0.0.1', port: 8080, weight: 10000, identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', protocolHint: 'h2' }],
};

describe('BusValidator', () => {
  const v: BusValidator = busValidator();

  it('accepts valid data of every kind', () => {
    v.check('endpointSet', endpointSet);
    v.check('endpointSet', { ...endpointSet, endpoints: [{ address: 'fd00::1', port: 1, weight: 0 }] });
    v.check('serviceProfile', {
      namespace: 'shop',
      service: 'web',
      routes: [{ name: 'GET /', condition: { all: [{ method: 'GET' }, { pathRegex: '/' }] }, isRetryable: true, timeoutMs: 500 }],
      dstOverrides: [{ authority: 'web-v2.shop.svc.cluster.local:80', weight: 100 }],
      opaquePorts: [],
    });
    v.check('workloadRegistered', { namespace: 'shop', name: 'vm-1', address: '192.0.2.4', ports: [{ port: 80 }], heartbeatIntervalMs: 1000 });
    v.check('endpointSetDeleted', { reason: 'service removed' });
    v.check('leaderChanged', { role: 'destination', holder: 'r1', term: 3 });
    v.check('workloadExpired', { namespace: 'a', name: 'b', lastHeartbeat: '2026-11-22T10:00:00Z' });
    v.check('manifestRejected', { file: 'a.yaml', reason: 'bad' });
    v.check('podInjection', {
      namespace: 'shop',
      generateName: 'web-5d8c-',
      owner: { kind: 'ReplicaSet', name: 'web-5d8c' },
      result: 'injected',
      reason: { code: 'NamespaceEnabled', message: 'namespace shop is annotated meshbus.io/inject: enabled' },
      proxyVersion: '0.1.0',
      dryRun: false,
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      replica: 'injector-a',
    });
  });

  it('checks addresses with the standard ipv4 and ipv6 formats only', () => {
    const withAddress = (address: string) => ({ ...endpointSet, endpoints: [{ address, port: 1, weight: 1 }] });
    for (const ok of ['10.0.0.1', '0.0.0.0', '2001:db8::1', '::1', '::ffff:192.0.2.1', 'fd00:0:0:0:0:0:0:1']) expect(() => v.check('endpointSet', withAddress(ok))).not.toThrow();
    for (const bad of ['10.0.0.256', '010.0.0.1', '10.0.0', 'fe80::1%eth0', '2001:db8::g', 'web.shop', '']) {
      expect(() => v.check('endpointSet', withAddress(bad)), bad).toThrow(/\/endpoints\/0\/address must match format "ipv(4|6)"/);
    }
    for (const file of ['endpoint-set', 'workload-registration', 'workload-register-request']) {
      expect(readFileSync(new URL(`../schemas/${file}.schema.json`, import.meta.url), 'utf8')).not.toContain('ip-address');
    }
  });

  it('rejects invalid data with the path of each problem', () => {
    expect(() => v.check('endpointSet', { ...endpointSet, port: 0 })).toThrow(SchemaValidationError);
    expect(() => v.check('endpointSet', { ...endpointSet, endpoints: [{ address: 'not-an-ip', port: 1, weight: 1 }] })).toThrow(
      /\/endpoints\/0\/address/,
    );
    expect(() => v.check('endpointSet', { ...endpointSet, extra: 1 })).toThrow(/additional properties/);
    expect(() => v.check('serviceProfile', { namespace: 'a', service: 'b', routes: [{ name: 'x', condition: {} }], dstOverrides: [], opaquePorts: [] })).toThrow(
      /condition/,
    );
    expect(() => v.check('workloadExpired', { namespace: 'a', name: 'b', lastHeartbeat: 'yesterday' })).toThrow(/date-time/);
    expect(() => v.check('leaderChanged', null)).toThrow(SchemaValidationError);
    const injection = { namespace: 'shop', name: 'web', result: 'refused', reason: { code: 'InvalidAnnotation', message: 'bad' }, proxyVersion: '0.1.0', dryRun: true, uid: 'u', replica: 'r' };
    expect(() => v.check('podInjection', injection)).not.toThrow();
    expect(() => v.check('podInjection', { ...injection, result: 'maybe' })).toThrow(/\/result must be equal to one of the allowed values/);
    expect(() => v.check('podInjection', { ...injection, reason: { code: 'not a code', message: 'x' } })).toThrow(/\/reason\/code/);
    expect(() => v.check('podInjection', { ...injection, namespace: 'Shop' })).toThrow(/\/namespace/);
  });
});

describe('subjects', () => {
  it('builds versioned subjects and parses state subjects back', () => {
    expect(subjects.endpoints('shop', 'web', 80)).toBe('meshbus.v1.state.endpoints.shop.web.80');
    expect(parseStateSubject('meshbus.v1.state.endpoints.shop.web.80')).toEqual({ kind: 'endpoints', key: ['shop', 'web', '80'] });
    expect(parseStateSubject('meshbus.v1.events.x')).toBeUndefined();
  });

  it('refuses tokens that would change the subject structure', () => {
    expect(() => subjects.endpoints('a.b', 'web', 80)).toThrow(SubjectError);
    expect(() => subjects.profile('ns', '*')).toThrow(SubjectError);
    expect(() => subjects.workload('ns', '>')).toThrow(SubjectError);
    expect(subjects.podInjection('skipped')).toBe('meshbus.v1.events.injector.pod.skipped');
  });
});

describe('docs/events.md', () => {
  it('documents every CloudEvents extension attribute', () => {
    const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    for (const a of Object.values(extensionAttributes)) {
      expect(doc, a.name).toContain(`\`${a.header}\``);
      expect(doc, a.name).toContain(`\`${a.name}\``);
    }
  });

  it('documents every event type and subject of the catalogue', () => {
    const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    for (const kind of Object.keys(catalog) as EventKind[]) {
      expect(doc, kind).toContain(catalog[kind].type);
      expect(doc, kind).toContain(catalog[kind].subject);
      expect(doc, kind).toContain(`${catalog[kind].schema}.schema.json`);
    }
  });
});
