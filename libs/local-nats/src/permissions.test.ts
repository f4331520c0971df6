import { describe, expect, it } from 'vitest';
import { natsAuthorizationConfig, natsRoles, NatsAuthorizationError, rolePermissions } from './permissions.js';

// Regenerate the golden file after an intended change with:
//   npx vitest run --project unit libs/local-nats/src/permissions.test.ts -u

describe('natsAuthorizationConfig', () => {
  it('gives every role its permissions (golden)', async () => {
    const text = natsAuthorizationConfig(natsRoles.map((role) => ({ user: role, password: `${role}-secret`, role })));
    await expect(text).toMatchFileSnapshot('./testdata/authorization.golden.conf');
  });

  it('lets no role delete or purge a stream, or delete a message', () => {
    for (const role of natsRoles) {
      const { publish } = rolePermissions(role);
      expect(publish.filter((s) => /\.(DELETE|PURGE)\./.test(s) && !s.includes('.CONSUMER.')), role).toEqual([]);
      expect(publish.filter((s) => s.includes('>') && s.startsWith('$JS.API')) .filter((s) => !/^\$JS\.API\.(CONSUMER\.CREATE\.MESHBUS_|CONSUMER\.CREATE\.KV_meshbus-leases\.\*\.\$KV\.meshbus-leases\.>$|DIRECT\.GET\.)/.test(s)), role).toEqual([]);
    }
  });

  it('keeps the reader and the gateway off meshbus state and events', () => {
    for (const role of ['reader', 'gateway'] as const) {
      expect(rolePermissions(role).publish.filter((s) => s.startsWith('meshbus.v1.state') || s.startsWith('meshbus.v1.events')), role).toEqual([]);
      expect(rolePermissions(role).publish.some((s) => s.includes('STREAM.CREATE') || s.includes('STREAM.UPDATE')), role).toBe(false);
    }
    expect(rolePermissions('reader').publish.filter((s) => s.startsWith('meshbus.'))).toEqual([]);
  });

  it('refuses users and passwords it cannot quote, and duplicates', () => {
    expect(() => natsAuthorizationConfig([{ user: 'a b', password: 'x', role: 'reader' }])).toThrow(NatsAuthorizationError);
    expect(() => natsAuthorizationConfig([{ user: 'a', password: 'x"y', role: 'reader' }])).toThrow(/password of NATS user a/);
    expect(() =>
      natsAuthorizationConfig([
        { user: 'a', password: 'x', role: 'reader' },
        { user: 'a', password: 'y', role: 'gateway' },
      ]),
    ).toThrow(/listed twice/);
  });
});
