import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { envToConfig } from './config.js';

const host = { hostname: 'node-a', pid: 42 };
const local = { MESHBUS_IDENTITY_DIR: '/etc/meshbus/identity', MESHBUS_TOKEN_PUBLIC_KEY: '/etc/meshbus/token.pub' };

function configError(env: Record<string, string>): string {
  try {
    envToConfig(env, host);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('envToConfig', () => {
  it('fills the defaults of local mode', () => {
    const config = envToConfig(local, host);
    expect(config).toEqual({
      replicaId: 'node-a-42',
      bus: { servers: ['nats://127.0.0.1:4222'], name: 'meshbus-identity/node-a-42', inboxPrefix: '_INBOX_identity', user: undefined, password: undefined, token: undefined },
      admin: { host: '0.0.0.0', port: 9990 },
      logLevel: 'info',
      streamReplicas: 1,
      eventsMaxAgeMs: 7 * 86_400_000,
      metricsRetention: { maxAgeMs: 3_600_000, maxBytes: 2 ** 30 },
      controlNamespace: 'meshbus',
      trustDomain: 'cluster.local',
      certificateLifetimeMs: 24 * 3_600_000,
      clockSkewMs: 20_000,
      issuerRecheckIntervalMs: 30_000,
      mode: {
        kind: 'local',
        files: {
          trustAnchors: '/etc/meshbus/identity/ca.crt',
          issuerCertificate: '/etc/meshbus/identity/issuer.crt',
          issuerKey: '/etc/meshbus/identity/issuer.key',
        },
        tokenPublicKeyFile: '/etc/meshbus/token.pub',
        tokenAudience: 'identity.meshbus.io',
      },
    });
  });

  it('reads every variable', () => {
    const config = envToConfig(
      {
        ...local,
        NATS_URL: 'nats://a:4222, nats://b:4222',
        NATS_USER: 'identity',
        NATS_PASSWORD: 'secret',
        MESHBUS_ADMIN_ADDR: '[::1]:0',
        MESHBUS_LOG_LEVEL: 'debug',
        MESHBUS_REPLICA_ID: 'identity-0',
        MESHBUS_STREAM_REPLICAS: '3',
        MESHBUS_CONTROL_NAMESPACE: 'mesh',
        MESHBUS_TRUST_DOMAIN: 'example.org',
        MESHBUS_CERT_LIFETIME: '1h',
        MESHBUS_CLOCK_SKEW: '0s',
        MESHBUS_ISSUER_RECHECK_INTERVAL: '5s',
        MESHBUS_TOKEN_AUDIENCE: 'mesh.example.org',
        MESHBUS_ISSUER_CERT: '/other/issuer.pem',
        MESHBUS_TRUST_ANCHORS: 'file:/other/bundle.pem',
        MESHBUS_METRICS_MAX_AGE: '1d',
        MESHBUS_METRICS_MAX_BYTES: '2GiB',
      },
      host,
    );
    expect(config.bus).toEqual({ servers: ['nats://a:4222', 'nats://b:4222'], name: 'meshbus-identity/identity-0', inboxPrefix: '_INBOX_identity', user: 'identity', password: 'secret', token: undefined });
    expect(config.admin).toEqual({ host: '::1', port: 0 });
    expect(config).toMatchObject({ logLevel: 'debug', streamReplicas: 3, controlNamespace: 'mesh', trustDomain: 'example.org' });
    expect(config).toMatchObject({ certificateLifetimeMs: 3_600_000, clockSkewMs: 0, issuerRecheckIntervalMs: 5000 });
    expect(config.metricsRetention).toEqual({ maxAgeMs: 86_400_000, maxBytes: 2 ** 31 });
    expect(config.mode).toEqual({
      kind: 'local',
      files: { trustAnchors: '/other/bundle.pem', issuerCertificate: '/other/issuer.pem', issuerKey: '/etc/meshbus/identity/issuer.key' },
      tokenPublicKeyFile: '/etc/meshbus/token.pub',
      tokenAudience: 'mesh.example.org',
    });
  });

  it('reads cluster mode', () => {
    expect(envToConfig({ MESHBUS_IDENTITY_MODE: 'kubernetes' }, host).mode).toEqual({
      kind: 'kubernetes',
      issuerSecret: { namespace: 'meshbus', name: 'meshbus-identity-issuer' },
      tokenAudiences: ['identity.meshbus.io'],
    });
    const mode = envToConfig(
      {
        MESHBUS_IDENTITY_MODE: 'kubernetes',
        MESHBUS_ISSUER_SECRET: 'mesh-system/issuer',
        MESHBUS_TRUST_ANCHORS: 'configmap:mesh-system/trust-roots',
        MESHBUS_TOKEN_AUDIENCE: 'a, b',
        KUBECONFIG: '/home/me/.kube/config',
      },
      host,
    ).mode;
    expect(mode).toEqual({
      kind: 'kubernetes',
      issuerSecret: { namespace: 'mesh-system', name: 'issuer' },
      trustAnchors: { kind: 'configmap', namespace: 'mesh-system', name: 'trust-roots', key: 'ca-bundle.crt' },
      tokenAudiences: ['a', 'b'],
      kubeconfig: '/home/me/.kube/config',
    });
    const anchors = (value: string) => {
      const m = envToConfig({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_TRUST_ANCHORS: value }, host).mode;
      return m.kind === 'kubernetes' ? m.trustAnchors : undefined;
    };
    expect(anchors('secret:meshbus/roots')).toEqual({ kind: 'secret', namespace: 'meshbus', name: 'roots', key: 'ca.crt' });
    expect(anchors('secret:meshbus/roots/bundle.pem')).toEqual({ kind: 'secret', namespace: 'meshbus', name: 'roots', key: 'bundle.pem' });
    expect(anchors('/etc/roots.pem')).toEqual({ kind: 'file', path: '/etc/roots.pem' });
  });

  it('names the variable at fault', () => {
    expect(configError({ ...local, MESHBUS_IDENTITY_MODE: 'cloud' })).toMatch(/^MESHBUS_IDENTITY_MODE must be local or kubernetes/);
    expect(configError({ MESHBUS_TOKEN_PUBLIC_KEY: '/k' })).toMatch(/MESHBUS_IDENTITY_DIR is required/);
    expect(configError({ MESHBUS_IDENTITY_DIR: '/d' })).toMatch(/^MESHBUS_TOKEN_PUBLIC_KEY is required/);
    expect(configError({ ...local, MESHBUS_ADMIN_ADDR: '9990' })).toMatch(/^MESHBUS_ADMIN_ADDR must be host:port/);
    expect(configError({ ...local, MESHBUS_ADMIN_ADDR: 'localhost:70000' })).toMatch(/^MESHBUS_ADMIN_ADDR/);
    expect(configError({ ...local, MESHBUS_CERT_LIFETIME: '24 hours' })).toMatch(/^MESHBUS_CERT_LIFETIME/);
    expect(configError({ ...local, MESHBUS_CERT_LIFETIME: '1s' })).toMatch(/^MESHBUS_CERT_LIFETIME must be at least/);
    expect(configError({ ...local, MESHBUS_CLOCK_SKEW: '-1s' })).toMatch(/^MESHBUS_CLOCK_SKEW/);
    expect(configError({ ...local, MESHBUS_STREAM_REPLICAS: 'three' })).toMatch(/^MESHBUS_STREAM_REPLICAS/);
    expect(configError({ ...local, MESHBUS_TRUST_DOMAIN: 'Cluster.Local' })).toMatch(/^MESHBUS_TRUST_DOMAIN/);
    expect(configError({ ...local, MESHBUS_CONTROL_NAMESPACE: 'a.b' })).toMatch(/^MESHBUS_CONTROL_NAMESPACE/);
    expect(configError({ ...local, MESHBUS_LOG_LEVEL: 'loud' })).toMatch(/^MESHBUS_LOG_LEVEL/);
    expect(configError({ ...local, MESHBUS_METRICS_MAX_AGE: 'an hour' })).toMatch(/^MESHBUS_METRICS_MAX_AGE: invalid duration/);
    expect(configError({ ...local, MESHBUS_METRICS_MAX_BYTES: '1KiB' })).toMatch(/^MESHBUS_METRICS_MAX_BYTES must be at least 1MiB/);
    expect(configError({ ...local, MESHBUS_TRUST_ANCHORS: 'configmap:meshbus/roots' })).toMatch(/^MESHBUS_TRUST_ANCHORS must be a file in local mode/);
    expect(configError({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_ISSUER_SECRET: 'issuer' })).toMatch(/^MESHBUS_ISSUER_SECRET must be <namespace>\/<name>/);
    expect(configError({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_TRUST_ANCHORS: 'vault:x' })).toMatch(/^MESHBUS_TRUST_ANCHORS must be/);
    expect(configError({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_TRUST_ANCHORS: 'file:roots.pem' })).toMatch(/^MESHBUS_TRUST_ANCHORS: file path must be absolute/);
    expect(configError({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_TOKEN_AUDIENCE: ' , ' })).toMatch(/^MESHBUS_TOKEN_AUDIENCE/);
  });
});

