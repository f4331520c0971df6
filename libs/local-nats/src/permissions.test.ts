import { describe, expect, it } from 'vitest';
import { natsAuthorizationConfig, natsRoles, NatsAuthorizationError, rolePermissions } from './permissions.js';

// Regenerate the golden file after an intended change with:
//   npx vitest run --project unit libs/local-nats/src/permissions.test.ts -u

describe('natsAuthorizationConfig', () => {
  it('gives every role its permissions (golden)', async () => {
    const text = natsAuthorizationConfig(natsRoles.map((role) => ({ user: role, password: `${role}-secret`, role })));
    await expect(text).toMatchFileSnapshot('./testdata/authorization.golden.conf');
  });

  it('lets no role delete or purge a stream, delete a message or a consumer, name or list consumers', () => {
    for (const role of natsRoles) {
      const { publish } = rolePermissions(role);
      // The lease watch of the single-writer roles (a KV watch on the lease bucket) creates ordered consumers too, and deletes none.
      const api = publish;
      expect(api.filter((s) => /\.(DELETE|PURGE)(\.|$)/.test(s)), role).toEqual([]);
      expect(api.filter((s) => /^\$JS\.API\.CONSUMER\./.test(s) && !/^\$JS\.API\.CONSUMER\.CREATE\.[A-Za-z_-]+(\.\*\.\$KV\.meshbus-leases\.[a-z>-]+)?$/.test(s)), role).toEqual([]);
      // A lease watch filters on its keys: `$KV.meshbus-leases.>` for the destination, which watches them all.
      expect(api.filter((s) => s.includes('>') && s.startsWith('$JS.API') && !s.startsWith('$JS.API.DIRECT.GET.') && !s.includes('.$KV.meshbus-leases.')), role).toEqual([]);
      if (role !== 'destination' && role !== 'policy' && role !== 'multicluster') expect(publish.filter((s) => s.includes('KV_meshbus-leases')), role).toEqual([]);
    }
  });

  it('lets each role subscribe under its own inbox prefix only, besides the requests it serves', () => {
    for (const role of natsRoles) {
      const { subscribe } = rolePermissions(role);
      expect(subscribe.filter((s) => s.startsWith('_INBOX')), role).toEqual([`_INBOX_${role}.>`]);
      const tapSubjects = role === 'gateway' ? ['meshbus.v1.tap.requests.*.*'] : role === 'tap' ? ['meshbus.v1.tap.events.*'] : [];
      expect(subscribe.filter((s) => !s.startsWith('_INBOX') && !s.startsWith('$SRV.') && !s.includes(' ')), role).toEqual(tapSubjects);
    }
    expect(rolePermissions('reader').subscribe.some((s) => s.startsWith('meshbus.v1.tap.')), 'reader').toBe(false);
    expect(rolePermissions('reader').publish.some((s) => s.startsWith('meshbus.v1.tap.')), 'reader').toBe(false);
    expect(rolePermissions('destination').subscribe).toContain('meshbus.v1.rpc.workloads.register meshbus-destination');
    expect(rolePermissions('destination').subscribe).toContain('$SRV.PING.meshbus-destination.*');
    expect(rolePermissions('identity').subscribe).toContain('meshbus.v1.identity.certify meshbus-identity');
    expect(rolePermissions('identity').subscribe).toContain('$SRV.INFO.meshbus-identity');
    expect(rolePermissions('identity').subscribe).not.toContain('$SRV.INFO.meshbus-destination');
  });

  it('lets policy write its own state, events and lease key only', () => {
    const { publish, subscribe } = rolePermissions('policy');
    expect(publish.filter((s) => s.startsWith('meshbus.'))).toEqual([
      'meshbus.v1.state.inbound-policy.>',
      'meshbus.v1.state.outbound-policy.>',
      'meshbus.v1.state.policy-defaults.>',
      'meshbus.v1.state.policy-status.>',
      'meshbus.v1.events.policy.>',
      'meshbus.v1.events.leader.policy',
      'meshbus.v1.events.publish.failed',
    ]);
    expect(publish.filter((s) => s.startsWith('$KV.'))).toEqual(['$KV.meshbus-leases.policy']);
    expect(publish.filter((s) => s.includes('.$KV.'))).toEqual(['$JS.API.CONSUMER.CREATE.KV_meshbus-leases.*.$KV.meshbus-leases.policy']);
    expect(subscribe).toEqual(['_INBOX_policy.>']);
  });

  it('lets multicluster write its exports, mirrors, link events and lease key only, and set up and read its link streams', () => {
    const { publish, subscribe } = rolePermissions('multicluster', { links: ['east', 'north-1'] });
    expect(publish.filter((s) => s.startsWith('meshbus.'))).toEqual([
      'meshbus.v1.exports.>',
      'meshbus.v1.state.mirrors.>',
      'meshbus.v1.events.multicluster.>',
      'meshbus.v1.events.leader.multicluster',
      'meshbus.v1.events.publish.failed',
    ]);
    expect(publish.filter((s) => s.startsWith('$KV.'))).toEqual(['$KV.meshbus-leases.multicluster']);
    expect(publish).toEqual(
      expect.arrayContaining([
        '$JS.API.STREAM.CREATE.MESHBUS_EXPORTS',
        '$JS.API.CONSUMER.CREATE.MESHBUS_EXPORTS',
        '$JS.API.STREAM.INFO.MESHBUS_LINK_EAST',
        '$JS.API.STREAM.UPDATE.MESHBUS_LINK_NORTH_1',
        '$JS.API.CONSUMER.CREATE.MESHBUS_LINK_NORTH_1',
      ]),
    );
    // Not the link streams of clusters it is not linked to, and no other cluster's API.
    expect(rolePermissions('multicluster').publish.filter((s) => s.includes('MESHBUS_LINK_'))).toEqual([]);
    expect(publish.filter((s) => s.startsWith('$JS.') && !s.startsWith('$JS.API.') && s !== '$JS.ACK.>' && s !== '$JS.FC.>')).toEqual([]);
    expect(subscribe).toEqual(['_INBOX_multicluster.>']);
    expect(() => rolePermissions('tap', { links: ['east'] })).toThrow(/only the multicluster and reader roles/);
    // The reader reads the exports and the link streams it is told of; it sets nothing up.
    const reader = rolePermissions('reader', { links: ['east'] }).publish;
    expect(reader.filter((s) => /MESHBUS_(EXPORTS|LINK_)/.test(s)).sort()).toEqual(
      [
        '$JS.API.STREAM.INFO.MESHBUS_EXPORTS', '$JS.API.CONSUMER.CREATE.MESHBUS_EXPORTS', '$JS.API.STREAM.MSG.GET.MESHBUS_EXPORTS', '$JS.API.DIRECT.GET.MESHBUS_EXPORTS', '$JS.API.DIRECT.GET.MESHBUS_EXPORTS.>',
        '$JS.API.STREAM.INFO.MESHBUS_LINK_EAST', '$JS.API.CONSUMER.CREATE.MESHBUS_LINK_EAST', '$JS.API.STREAM.MSG.GET.MESHBUS_LINK_EAST', '$JS.API.DIRECT.GET.MESHBUS_LINK_EAST', '$JS.API.DIRECT.GET.MESHBUS_LINK_EAST.>',
      ].sort(),
    );
    expect(() => rolePermissions('multicluster', { links: ['East!'] })).toThrow(NatsAuthorizationError);
    expect(natsAuthorizationConfig([{ user: 'mc', password: 'pw', role: 'multicluster', links: ['east'] }])).toContain('"$JS.API.CONSUMER.CREATE.MESHBUS_LINK_EAST"');
  });

  it('lets the injector publish its pod-injection events only', () => {
    expect(rolePermissions('injector')).toEqual({ publish: ['meshbus.v1.events.injector.pod.*'], subscribe: ['_INBOX_injector.>'] });
  });

  it('lets a workload only ask the destination replicas, and readers discover services', () => {
    expect(rolePermissions('workload')).toEqual({
      publish: ['meshbus.v1.rpc.workloads.register', 'meshbus.v1.rpc.workloads.heartbeat', 'meshbus.v1.rpc.workloads.deregister'],
      subscribe: ['_INBOX_workload.>'],
    });
    expect(rolePermissions('reader').publish).toEqual(expect.arrayContaining(['$SRV.PING', '$SRV.INFO.*', '$SRV.STATS.*.*']));
  });

  it('keeps the reader and the gateway off meshbus state and events, but for the summaries the gateway publishes', () => {
    expect(rolePermissions('reader').publish.filter((s) => s.startsWith('meshbus.v1.state') || s.startsWith('meshbus.v1.events'))).toEqual([]);
    expect(rolePermissions('gateway').publish.filter((s) => s.startsWith('meshbus.v1.state') || s.startsWith('meshbus.v1.events'))).toEqual([]);
    expect(rolePermissions('gateway').publish.filter((s) => s.startsWith('meshbus.v1.metrics'))).toEqual(['meshbus.v1.metrics.*.*']);
    for (const role of ['reader', 'gateway'] as const) {
      expect(rolePermissions(role).publish.some((s) => s.includes('STREAM.CREATE') || s.includes('STREAM.UPDATE')), role).toBe(false);
    }
    expect(rolePermissions('reader').publish.filter((s) => s.startsWith('meshbus.'))).toEqual([]);
  });

  it('lets only the gateway publish traffic summaries, and the readers read MESHBUS_METRICS through ordered consumers only', () => {
    for (const role of natsRoles) {
      const { publish } = rolePermissions(role);
      const summaries = publish.filter((s) => s.startsWith('meshbus.v1.metrics') || s === 'meshbus.v1.>' || s === 'meshbus.>' || s === '>');
      expect(summaries, role).toEqual(role === 'gateway' ? ['meshbus.v1.metrics.*.*'] : []);
      const metricsApi = publish.filter((s) => s.includes('MESHBUS_METRICS')).sort();
      if (role === 'reader' || role === 'tap') expect(metricsApi, role).toEqual(['$JS.API.CONSUMER.CREATE.MESHBUS_METRICS', '$JS.API.STREAM.INFO.MESHBUS_METRICS']);
      else if (role === 'destination' || role === 'policy' || role === 'identity' || role === 'multicluster')
        expect(metricsApi, role).toEqual(['$JS.API.STREAM.CREATE.MESHBUS_METRICS', '$JS.API.STREAM.INFO.MESHBUS_METRICS', '$JS.API.STREAM.UPDATE.MESHBUS_METRICS']);
      else expect(metricsApi, role).toEqual([]);
    }
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
