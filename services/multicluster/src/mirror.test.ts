import { describe, expect, it } from 'vitest';
import { computeMirrors, defaultMirrorSettings, mirrorChanges, nextMirrorDeadline, type LinkObservation, type ServiceExport } from './mirror.js';

const settings = { ...defaultMirrorSettings, trustDomain: 'cluster.local' };
const t0 = 1_000_000;

const web: ServiceExport = {
  cluster: 'east',
  namespace: 'shop',
  service: 'web',
  ports: [{ port: 80, name: 'http', ready: 2 }],
  identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'],
};

function east(overrides: Partial<LinkObservation> = {}, beatAt = t0): LinkObservation {
  return {
    cluster: 'east',
    followedSinceMs: t0 - 60_000,
    gateway: {
      beat: { cluster: 'east', trustDomain: 'cluster.local', identity: 'gateway.multicluster.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }], intervalMs: 2000 },
      receivedAtMs: beatAt,
    },
    exports: new Map([['shop/web', web]]),
    ...overrides,
  };
}

describe('mirrored services', () => {
  it("mirror a live link's exports as <service>-<cluster>, ready behind the gateway", () => {
    const result = computeMirrors([east()], new Set(['shop/web']), t0 + 1000, settings);
    expect([...result.mirrors.values()]).toEqual([
      {
        namespace: 'shop',
        service: 'web-east',
        cluster: 'east',
        remoteService: 'web',
        ports: [{ port: 80, name: 'http', ready: 2 }],
        gateway: { identity: 'gateway.multicluster.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }] },
        identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'],
        ready: true,
      },
    ]);
    expect(result.links).toEqual([{ cluster: 'east', health: 'live', heartbeatAgeMs: 1000, exported: 1, mirrored: 1 }]);
    expect(result.problems).toEqual([]);
  });

  it('are not ready when the remote service has no ready endpoint', () => {
    const result = computeMirrors([east({ exports: new Map([['shop/web', { ...web, ports: [{ port: 80, ready: 0 }] }]]) })], new Set(), t0, settings);
    expect(result.mirrors.get('shop/web-east')).toMatchObject({ ready: false, reason: 'no ready endpoint of shop/web in east' });
  });

  it('turn not ready when heartbeats stop, and go after the grace period', () => {
    const quiet = computeMirrors([east()], new Set(), t0 + 6001, settings);
    expect(quiet.mirrors.get('shop/web-east')).toMatchObject({ ready: false, ports: [{ port: 80, name: 'http', ready: 0 }], reason: 'no heartbeat from east for 6s' });
    expect(quiet.links[0]).toMatchObject({ health: 'quiet', mirrored: 1 });

    const stillQuiet = computeMirrors([east()], new Set(), t0 + 30_000, settings);
    expect(stillQuiet.mirrors.size).toBe(1);

    const gone = computeMirrors([east()], new Set(), t0 + 30_001, settings);
    expect(gone.mirrors.size).toBe(0);
    expect(gone.links[0]).toMatchObject({ health: 'gone', mirrored: 0, reason: 'no heartbeat from east for 30s, past the grace period of 30s' });
  });

  it('come back ready with the next heartbeat', () => {
    const back = computeMirrors([east({}, t0 + 40_000)], new Set(), t0 + 40_500, settings);
    expect(back.mirrors.get('shop/web-east')).toMatchObject({ ready: true });
  });

  it('are removed with the export', () => {
    expect(computeMirrors([east({ exports: new Map() })], new Set(), t0, settings).mirrors.size).toBe(0);
  });

  it('wait for the first heartbeat of a new link, and report it gone after the grace period', () => {
    const { gateway: _gateway, ...fresh } = east({ followedSinceMs: t0 });
    const waiting = computeMirrors([fresh], new Set(), t0 + 1000, settings);
    expect(waiting.mirrors.size).toBe(0);
    expect(waiting.links[0]).toMatchObject({ health: 'quiet', reason: 'waiting for the first heartbeat from east' });
    expect(computeMirrors([fresh], new Set(), t0 + 30_001, settings).links[0]).toMatchObject({ health: 'gone' });
  });

  it('never take the name of a local service, nor a name too long for a service', () => {
    const long = { ...web, namespace: 'shop', service: 'a'.repeat(59) };
    const result = computeMirrors([east({ exports: new Map([['shop/web', web], [`shop/${long.service}`, long]]) })], new Set(['shop/web-east']), t0, settings);
    expect(result.mirrors.size).toBe(0);
    expect(result.problems).toEqual([
      { cluster: 'east', export: `shop/${long.service}`, reason: `the mirror name ${long.service}-east is longer than 63 characters` },
      { cluster: 'east', export: 'shop/web', reason: 'a local service shop/web-east exists; the export is not mirrored over it' },
    ]);
  });

  it('refuse a link of another trust domain, or one that speaks for another cluster', () => {
    const other = east();
    const foreign = computeMirrors([{ ...other, gateway: { ...other.gateway!, beat: { ...other.gateway!.beat, trustDomain: 'example.org' } } }], new Set(), t0, settings);
    expect(foreign.mirrors.size).toBe(0);
    expect(foreign.links[0]).toMatchObject({ health: 'refused' });
    expect(foreign.problems[0]!.reason).toBe('east has trust domain example.org, this cluster cluster.local: linked clusters share one trust domain');

    const impostor = computeMirrors([east({ exports: new Map([['shop/web', { ...web, cluster: 'north' }]]) })], new Set(), t0, settings);
    expect(impostor.mirrors.size).toBe(0);
    expect(impostor.problems).toEqual([{ cluster: 'east', export: 'shop/web', reason: 'exported as cluster north on the link to east' }]);
  });

  it('keep the services of two clusters apart', () => {
    const north = east({ cluster: 'north' });
    const northLink: LinkObservation = {
      ...north,
      gateway: { ...north.gateway!, beat: { ...north.gateway!.beat, cluster: 'north' } },
      exports: new Map([['shop/web', { ...web, cluster: 'north' }]]),
    };
    const result = computeMirrors([northLink, east()], new Set(), t0, settings);
    expect([...result.mirrors.keys()]).toEqual(['shop/web-east', 'shop/web-north']);
  });
});

describe('mirror changes', () => {
  it('name what to write and what to remove, and nothing when nothing changed', () => {
    const before = computeMirrors([east()], new Set(), t0, settings).mirrors;
    expect(mirrorChanges(before, before)).toEqual({ upserts: [], removed: [] });
    const quiet = computeMirrors([east()], new Set(), t0 + 7000, settings).mirrors;
    expect(mirrorChanges(before, quiet).upserts.map((m) => [m.service, m.ready])).toEqual([['web-east', false]]);
    expect(mirrorChanges(quiet, new Map())).toEqual({ upserts: [], removed: ['shop/web-east'] });
  });

  it('know when the result changes next without new input', () => {
    expect(nextMirrorDeadline([east()], t0, settings)).toBe(t0 + 6001);
    expect(nextMirrorDeadline([east()], t0 + 6001, settings)).toBe(t0 + 30_001);
    expect(nextMirrorDeadline([east()], t0 + 30_001, settings)).toBeUndefined();
  });
});
