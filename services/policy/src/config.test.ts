import { ConfigError } from '@meshbus/runtime';
import { describe, expect, it } from 'vitest';
import { envToConfig } from './config.js';

const base = { MESHBUS_MANIFESTS_DIR: '/m', MESHBUS_REPLICA_ID: 'policy-1' };

describe('envToConfig', () => {
  it('has defaults for everything but the manifests folder', () => {
    const c = envToConfig(base);
    expect(c).toMatchObject({
      replicaId: 'policy-1',
      manifestsDir: '/m',
      streamReplicas: 1,
      metricsRetention: { maxAgeMs: 3_600_000, maxBytes: 2 ** 30 },
      leaseMs: 1500,
      admin: { host: '0.0.0.0', port: 9997 },
      bus: { servers: ['nats://127.0.0.1:4222'], name: 'meshbus-policy/policy-1', inboxPrefix: '_INBOX_policy' },
      settings: {
        clusterDomain: 'cluster.local',
        identityDomain: 'identity.meshbus.cluster.local',
        defaultPolicy: 'all-unauthenticated',
        probeNetworks: ['0.0.0.0/0', '::/0'],
        detectTimeoutMs: 10_000,
      },
    });
    expect(c.settings.clusterNetworks).toContain('10.0.0.0/8');
    expect(c.settings.clusterNetworks).toContain('127.0.0.0/8');
  });

  it('reads every policy setting', () => {
    const c = envToConfig({
      ...base,
      MESHBUS_CLUSTER_DOMAIN: 'example.org',
      MESHBUS_CONTROL_NAMESPACE: 'mesh',
      MESHBUS_TRUST_DOMAIN: 'corp.example',
      MESHBUS_DEFAULT_INBOUND_POLICY: 'deny',
      MESHBUS_CLUSTER_NETWORKS: '10.1.2.3/16, fd00::1/8,10.1.0.0/16',
      MESHBUS_PROBE_NETWORKS: '127.0.0.1',
      MESHBUS_DETECT_TIMEOUT: '2s',
      MESHBUS_LEASE_DURATION: '3s',
      MESHBUS_STREAM_REPLICAS: '3',
      MESHBUS_METRICS_MAX_AGE: '30m',
      MESHBUS_METRICS_MAX_BYTES: '100MB',
    });
    expect(c.settings).toEqual({
      clusterDomain: 'example.org',
      identityDomain: 'identity.mesh.corp.example',
      defaultPolicy: 'deny',
      clusterNetworks: ['10.1.0.0/16', 'fd00::/8'],
      probeNetworks: ['127.0.0.1/32'],
      detectTimeoutMs: 2000,
    });
    expect(c).toMatchObject({ leaseMs: 3000, streamReplicas: 3, metricsRetention: { maxAgeMs: 1_800_000, maxBytes: 100_000_000 } });
  });

  it.each([
    [{}, /MESHBUS_MANIFESTS_DIR is required/],
    [{ ...base, MESHBUS_DEFAULT_INBOUND_POLICY: 'open' }, /MESHBUS_DEFAULT_INBOUND_POLICY must be one of all-unauthenticated, .*deny, audit, got "open"/],
    [{ ...base, MESHBUS_CLUSTER_NETWORKS: '10.0.0.0/8,10.0.0.0/40' }, /MESHBUS_CLUSTER_NETWORKS: "10.0.0.0\/40": the prefix length must be a number from 0 to 32/],
    [{ ...base, MESHBUS_PROBE_NETWORKS: ' , ' }, /MESHBUS_PROBE_NETWORKS must name at least one network/],
    [{ ...base, MESHBUS_DETECT_TIMEOUT: 'soon' }, /MESHBUS_DETECT_TIMEOUT: invalid duration/],
    [{ ...base, MESHBUS_CLUSTER_DOMAIN: 'Not A Domain' }, /MESHBUS_CLUSTER_DOMAIN must be a DNS name/],
    [{ ...base, MESHBUS_CONTROL_NAMESPACE: 'a.b' }, /MESHBUS_CONTROL_NAMESPACE must be a DNS label/],
    [{ ...base, MESHBUS_LEASE_DURATION: '10ms' }, /MESHBUS_LEASE_DURATION must be at least 100ms/],
    [{ ...base, MESHBUS_STREAM_REPLICAS: '7' }, /MESHBUS_STREAM_REPLICAS must be <= 5/],
    [{ ...base, MESHBUS_METRICS_MAX_AGE: '10s' }, /MESHBUS_METRICS_MAX_AGE must be at least 1m/],
    [{ ...base, MESHBUS_METRICS_MAX_BYTES: '1 gig' }, /MESHBUS_METRICS_MAX_BYTES: invalid size "1 gig"/],
  ])('names the bad variable: %j', (env, message) => {
    expect(() => envToConfig(env)).toThrow(ConfigError);
    expect(() => envToConfig(env)).toThrow(message);
  });
});
