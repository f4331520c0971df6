import { describe, expect, it } from 'vitest';
import { WorkloadRegistrationError } from '@meshbus/bus';
import { buildRegistration, chooseWorkloadTokenSource, describeRegistrationError, type RegistrationFlags } from './registration.js';

const flags: RegistrationFlags = {
  namespace: 'shop',
  name: 'web-9',
  address: '127.0.0.19',
  ports: [{ name: 'http', port: 8080 }],
  labels: [],
  meshed: true,
  intervalMs: 5000,
};

describe('buildRegistration', () => {
  it('keeps only what was given', () => {
    expect(buildRegistration(flags)).toEqual({ namespace: 'shop', name: 'web-9', address: '127.0.0.19', ports: [{ name: 'http', port: 8080 }] });
  });

  it('carries labels, service account, zone and not-meshed', () => {
    expect(
      buildRegistration({ ...flags, labels: [['app', 'web'], ['tier', 'front']], serviceAccount: 'web', zone: 'zone-a', meshed: false, ports: [{ port: 1 }, { port: 2 }] }),
    ).toEqual({
      namespace: 'shop',
      name: 'web-9',
      address: '127.0.0.19',
      ports: [{ port: 1 }, { port: 2 }],
      labels: { app: 'web', tier: 'front' },
      serviceAccount: 'web',
      zone: 'zone-a',
      meshed: false,
    });
  });

  it('refuses repeated ports and missing ports', () => {
    expect(() => buildRegistration({ ...flags, ports: [] })).toThrow(/at least one --port/);
    expect(() => buildRegistration({ ...flags, ports: [{ port: 80 }, { name: 'x', port: 80 }] })).toThrow(/port 80 is given twice/);
    expect(() => buildRegistration({ ...flags, ports: [{ name: 'x', port: 80 }, { name: 'x', port: 81 }] })).toThrow(/port name x is given twice/);
  });

  it('reports what the schema refuses', () => {
    expect(() => buildRegistration({ ...flags, name: 'Web_9' })).toThrow(/the registration is not valid: \/name must match pattern/);
    expect(() => buildRegistration({ ...flags, intervalMs: 50 })).toThrow(/heartbeatIntervalMs must be >= 100/);
  });
});

describe('chooseWorkloadTokenSource', () => {
  it('prefers --token-file, then MESHBUS_WORKLOAD_TOKEN, then the dev key', () => {
    expect(chooseWorkloadTokenSource({ tokenFile: '/t', env: { MESHBUS_WORKLOAD_TOKEN: 'x' }, devKeyFile: '/k' })).toEqual({ kind: 'file', path: '/t' });
    expect(chooseWorkloadTokenSource({ tokenFile: undefined, env: { MESHBUS_WORKLOAD_TOKEN: ' x\n' }, devKeyFile: '/k' })).toEqual({ kind: 'env', token: 'x' });
    expect(chooseWorkloadTokenSource({ tokenFile: undefined, env: { MESHBUS_WORKLOAD_TOKEN: '' }, devKeyFile: '/k' })).toEqual({ kind: 'dev', keyFile: '/k' });
    expect(() => chooseWorkloadTokenSource({ tokenFile: undefined, env: {}, devKeyFile: undefined })).toThrow(/pass --token-file <file> or set MESHBUS_WORKLOAD_TOKEN/);
  });

  it('describes a refusal with its code, field and what to fix, never the token', () => {
    const error = new WorkloadRegistrationError('Unauthenticated', 'the token was refused (TokenExpired): token expired at 2026-01-01T00:00:00.000Z', false, '/token');
    const text = describeRegistrationError(error, { kind: 'env', token: 'secret-token' });
    expect(text).toBe(
      'registration refused (Unauthenticated at /token): the token was refused (TokenExpired): token expired at 2026-01-01T00:00:00.000Z; check the token (MESHBUS_WORKLOAD_TOKEN): it must be signed by the mesh\'s token key, unexpired, for audience identity.meshbus.io',
    );
    expect(text).not.toContain('secret-token');
  });
});
