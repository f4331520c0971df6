import { describe, expect, it } from 'vitest';
import { envToConfig } from './config.js';

const base = { MESHBUS_CLUSTER_NAME: 'east', MESHBUS_MANIFESTS_DIR: '/tmp/manifests' };

describe('multicluster configuration', () => {
  it('has defaults for everything but the cluster name', () => {
    const config = envToConfig(base);
    expect(config).toMatchObject({
      cluster: 'east',
      trustDomain: 'cluster.local',
      admin: { host: '0.0.0.0', port: 9994 },
      gateway: { addresses: [], identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local' },
      links: [],
      heartbeatIntervalMs: 2000,
      graceMs: 30_000,
    });
  });

  it('reads the gateway addresses and the links', () => {
    const config = envToConfig({ ...base, MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '10.1.0.9:4180, [fd00::9]:4180', MESHBUS_MULTICLUSTER_LINKS: 'west,north' });
    expect(config.gateway.addresses).toEqual([
      { address: '10.1.0.9', port: 4180 },
      { address: 'fd00::9', port: 4180 },
    ]);
    expect(config.links).toEqual(['west', 'north']);
  });

  it.each([
    [{ MESHBUS_CLUSTER_NAME: undefined }, /MESHBUS_CLUSTER_NAME is required/],
    [{ MESHBUS_CLUSTER_NAME: 'East' }, /MESHBUS_CLUSTER_NAME must be 1 to 32 lower-case letters/],
    [{ MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: 'gateway.east:4180' }, /must be <ip>:<port>/],
    [{ MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '10.1.0.9' }, /MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES/],
    [{ MESHBUS_MULTICLUSTER_LINKS: 'east' }, /east is this cluster/],
    [{ MESHBUS_MULTICLUSTER_LINKS: 'west,west' }, /west is listed twice/],
    [{ MESHBUS_MULTICLUSTER_LINKS: 'West' }, /"West" must be a cluster name/],
    [{ MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL: '100ms' }, /between 500ms and 60s/],
    [{ MESHBUS_MULTICLUSTER_GRACE: '5s' }, /at least three heartbeat intervals \(6000ms\)/],
  ])('refuses %j', (env, message) => {
    expect(() => envToConfig({ ...base, ...env } as Record<string, string | undefined>)).toThrow(message);
  });
});
