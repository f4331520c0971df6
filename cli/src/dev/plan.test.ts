import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';
import { planDevProcesses, planDevTopology, planGatewayProxy } from './plan.js';
import { formatDevSummary, formatLinkedDevSummary, type DevSummary } from './summary.js';

describe('planDevProcesses', () => {
  it('gives every replica its name, admin address and service-specific variables', () => {
    const specs = planDevProcesses({
      services: ['destination', 'policy', 'gateway', 'identity'],
      replicas: 2,
      servicesDir: '/repo/services',
      natsUrl: 'nats://127.0.0.1:4999',
      logLevel: 'debug',
      manifestsDir: '/repo/.meshbus/manifests',
      identityDir: '/repo/.meshbus/identity',
      adminPorts: [9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008],
      gatewayPorts: [8086, 8087],
    });
    expect(specs.map((s) => s.name)).toEqual(['destination-1', 'destination-2', 'policy-1', 'policy-2', 'gateway-1', 'gateway-2', 'identity-1', 'identity-2']);
    expect(specs[0]).toEqual({
      name: 'destination-1',
      service: 'destination',
      script: '/repo/services/destination/dist/main.js',
      adminUrl: 'http://127.0.0.1:9001',
      env: {
        NATS_URL: 'nats://127.0.0.1:4999',
        MESHBUS_ADMIN_ADDR: '127.0.0.1:9001',
        MESHBUS_REPLICA_ID: 'destination-1',
        MESHBUS_LOG_LEVEL: 'debug',
        MESHBUS_MANIFESTS_DIR: '/repo/.meshbus/manifests',
        MESHBUS_TOKEN_PUBLIC_KEY: '/repo/.meshbus/identity/token.pub',
      },
    });
    // Policy reads the same manifests folder, and needs no token key: it takes no requests.
    expect(specs[3]).toEqual({
      name: 'policy-2',
      service: 'policy',
      script: '/repo/services/policy/dist/main.js',
      adminUrl: 'http://127.0.0.1:9004',
      env: {
        NATS_URL: 'nats://127.0.0.1:4999',
        MESHBUS_ADMIN_ADDR: '127.0.0.1:9004',
        MESHBUS_REPLICA_ID: 'policy-2',
        MESHBUS_LOG_LEVEL: 'debug',
        MESHBUS_MANIFESTS_DIR: '/repo/.meshbus/manifests',
      },
    });
    expect(specs[5]!.grpcAddress).toBe('127.0.0.1:8087');
    expect(specs[5]!.env.MESHBUS_GRPC_ADDR).toBe('127.0.0.1:8087');
    expect(specs[7]!.env).toMatchObject({
      MESHBUS_ADMIN_ADDR: '127.0.0.1:9008',
      MESHBUS_IDENTITY_DIR: '/repo/.meshbus/identity',
      MESHBUS_TOKEN_PUBLIC_KEY: '/repo/.meshbus/identity/token.pub',
    });
  });

  it('needs a port for every process', () => {
    expect(() =>
      planDevProcesses({
        services: ['gateway'],
        replicas: 2,
        servicesDir: '/s',
        natsUrl: 'n',
        logLevel: 'info',
        manifestsDir: '/m',
        identityDir: '/i',
        adminPorts: [1, 2],
        gatewayPorts: [3],
      }),
    ).toThrow(/no gRPC port for gateway-2/);
  });
});

describe('planDevTopology', () => {
  it('runs one nats-server and one replica of each service by default', () => {
    expect(planDevTopology({ ha: false })).toEqual({
      natsNodes: 1,
      replicas: { destination: 1, policy: 1, gateway: 1, identity: 1 },
      streamReplicas: undefined,
      manifestsSource: 'examples/manifests',
    });
    expect(planDevTopology({ ha: false, replicas: 3, services: ['gateway'] }).replicas).toEqual({ gateway: 3 });
  });

  it('with ha, runs 3 clustered nats-servers that keep every stream on all three, and 2 replicas unless told more', () => {
    expect(planDevTopology({ ha: true })).toMatchObject({ natsNodes: 3, replicas: { destination: 2, policy: 2, gateway: 2, identity: 2 }, streamReplicas: 3 });
    expect(planDevTopology({ ha: true, replicas: 4 }).replicas.policy).toBe(4);
  });

  it('gives every process MESHBUS_STREAM_REPLICAS when the plan says how many', () => {
    const specs = planDevProcesses({
      services: ['destination', 'gateway'],
      replicas: 1,
      servicesDir: '/s',
      natsUrl: 'n',
      logLevel: 'info',
      manifestsDir: '/m',
      identityDir: '/i',
      adminPorts: [1, 2],
      gatewayPorts: [3],
      streamReplicas: 3,
    });
    expect(specs.map((s) => s.env.MESHBUS_STREAM_REPLICAS)).toEqual(['3', '3']);
  });
});

describe('LineSplitter', () => {
  it('returns whole lines and keeps the partial rest', () => {
    const s = new LineSplitter();
    expect(s.push('a\nb')).toEqual(['a']);
    expect(s.push('c\r\nd\n')).toEqual(['bc', 'd']);
    expect(s.push('tail')).toEqual([]);
    expect(s.flush()).toEqual(['tail']);
    expect(s.flush()).toEqual([]);
  });
});

describe('formatDevSummary', () => {
  it('lists addresses, folders and the next commands', () => {
    const text = formatDevSummary({
      natsUrl: 'nats://127.0.0.1:4999',
      natsMonitorUrl: 'http://127.0.0.1:5000',
      natsStoreDir: '.meshbus/nats',
      gateways: ['127.0.0.1:8086'],
      admin: { 'destination-1': 'http://127.0.0.1:9001', 'gateway-1': 'http://127.0.0.1:9002' },
      manifestsDir: '/repo/.meshbus/manifests',
      manifestsCopied: true,
      identityDir: '/repo/.meshbus/identity',
      identityCreated: false,
      statePath: '/repo/.meshbus/dev.json',
    });
    expect(text).toContain('  NATS          nats://127.0.0.1:4999  (monitor http://127.0.0.1:5000, store .meshbus/nats)\n');
    expect(text).toContain('  gateway gRPC  127.0.0.1:8086\n');
    expect(text).toContain('  admin         destination-1  http://127.0.0.1:9001  (/ready /live /metrics)\n');
    expect(text).toContain('                gateway-1      http://127.0.0.1:9002');
    expect(text).toContain('/repo/.meshbus/manifests  (copied from examples/manifests)');
    expect(text).toContain('npm run meshbus -- endpoints web.shop:80 --watch');
    expect(text).toContain('npm run meshbus -- events');
  });
});

describe('the plan of a linked mesh (meshbus dev --clusters 2)', () => {
  const base = {
    replicas: 1,
    servicesDir: '/repo/services',
    natsUrl: 'nats://127.0.0.1:4999',
    logLevel: 'info',
    manifestsDir: '/repo/.meshbus/east/manifests',
    identityDir: '/repo/.meshbus/identity',
    adminPorts: [9001, 9002],
    gatewayPorts: [8096],
  };

  it("names the processes after the cluster and gives the multicluster service its cluster, links and gateway", () => {
    const [gateway, multicluster] = planDevProcesses({
      ...base,
      services: ['gateway', 'multicluster'],
      namePrefix: 'east-',
      multicluster: { cluster: 'east', links: [], gatewayAddresses: ['127.0.0.1:4180'] },
    });
    expect(gateway!.name).toBe('east-gateway-1');
    expect(multicluster).toEqual({
      name: 'east-multicluster-1',
      service: 'multicluster',
      script: '/repo/services/multicluster/dist/main.js',
      adminUrl: 'http://127.0.0.1:9002',
      env: {
        NATS_URL: 'nats://127.0.0.1:4999',
        MESHBUS_ADMIN_ADDR: '127.0.0.1:9002',
        MESHBUS_REPLICA_ID: 'east-multicluster-1',
        MESHBUS_LOG_LEVEL: 'info',
        MESHBUS_CLUSTER_NAME: 'east',
        MESHBUS_MANIFESTS_DIR: '/repo/.meshbus/east/manifests',
        MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '127.0.0.1:4180',
      },
    });
    const [west] = planDevProcesses({ ...base, services: ['multicluster'], namePrefix: 'west-', multicluster: { cluster: 'west', links: ['east'], gatewayAddresses: [] } });
    expect(west!.env).toMatchObject({ MESHBUS_CLUSTER_NAME: 'west', MESHBUS_MULTICLUSTER_LINKS: 'east' });
    expect(west!.env.MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES).toBeUndefined();
  });

  it('refuses a multicluster service without cluster settings', () => {
    expect(() => planDevProcesses({ ...base, services: ['multicluster'] })).toThrow('no cluster settings for multicluster-1');
  });

  it('runs the multicluster gateway as a proxy in gateway mode with the identity the multicluster service announces', () => {
    const spec = planGatewayProxy({
      script: '/repo/proxy/dist/main.js',
      name: 'east-multicluster-gateway-1',
      gateways: ['127.0.0.1:8096'],
      tunnelAddress: '127.0.0.1:4180',
      adminPort: 9003,
      trustAnchors: '/repo/.meshbus/identity/ca.crt',
      tokenFile: '/repo/.meshbus/east/multicluster-gateway.token',
      logLevel: 'warn',
    });
    expect(spec).toMatchObject({ service: 'multicluster-gateway', adminUrl: 'http://127.0.0.1:9003' });
    expect(spec.env).toMatchObject({
      MESHBUS_PROXY_MODE: 'gateway',
      MESHBUS_PROXY_GATEWAYS: '127.0.0.1:8096',
      MESHBUS_PROXY_NAMESPACE: 'meshbus',
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'multicluster-gateway',
      MESHBUS_PROXY_GATEWAY_ADDR: '127.0.0.1:4180',
      MESHBUS_PROXY_IDENTITY_TOKEN_FILE: '/repo/.meshbus/east/multicluster-gateway.token',
      MESHBUS_PROXY_LOG_LEVEL: 'warn',
    });
  });

  it('prints both clusters and the commands to try against the mirroring one', () => {
    const cluster = (name: string, extra: NonNullable<DevSummary['cluster']>): DevSummary => ({
      natsUrl: `nats://127.0.0.1:${name === 'west' ? 4999 : 5999}`,
      gateways: ['127.0.0.1:8086'],
      admin: { [`${name}-multicluster-gateway-1`]: 'http://127.0.0.1:9001' },
      manifestsDir: `/repo/.meshbus/${name}/manifests`,
      manifestsCopied: false,
      identityCreated: false,
      statePath: `/repo/.meshbus/${name}/dev.json`,
      cluster: extra,
    });
    const text = formatLinkedDevSummary(
      [
        cluster('west', { name: 'west', links: ['east'], linkCaFiles: ['/repo/.meshbus/east/leafnode-tls/ca.crt'] }),
        cluster('east', { name: 'east', links: [], leafnodeListen: '127.0.0.1:7422', leafnodeCaFile: '/repo/.meshbus/east/leafnode-tls/ca.crt', multiclusterGateway: '127.0.0.1:4180' }),
      ],
      { local: 'west', remote: 'east', service: { namespace: 'shop', name: 'web', port: 80 } },
    );
    expect(text).toContain('\ncluster west\n  NATS          nats://127.0.0.1:4999  (external)\n');
    expect(text).toContain('  links         east  (mirrors their exported services; over TLS, certificate checked with /repo/.meshbus/east/leafnode-tls/ca.crt)\n');
    expect(text).toContain('  admin         east-multicluster-gateway-1  http://127.0.0.1:9001  (/ready /live /metrics)\n');
    expect(text).toContain('  leaf nodes    127.0.0.1:7422  (TLS; linked clusters connect here)\n');
    expect(text).toContain("  leaf node CA  /repo/.meshbus/east/leafnode-tls/ca.crt  (linked clusters check the listener's certificate with it)\n");
    expect(text).toContain('  mc gateway    127.0.0.1:4180  (tunnels of linked clusters\' proxies)\n');
    expect(text).toContain('east exports web.shop; west mirrors it as web-east.shop.');
    expect(text).toContain('  npm run meshbus -- endpoints web-east.shop:80\n');
    expect(text).toContain('Ctrl-C stops everything.');

    // Without TLS settings the summary says the link is in clear, and shows no CA.
    const clear = formatLinkedDevSummary(
      [cluster('west', { name: 'west', links: ['east'] }), cluster('east', { name: 'east', links: [], leafnodeListen: '127.0.0.1:7422' })],
      { local: 'west', remote: 'east', service: { namespace: 'shop', name: 'web', port: 80 } },
    );
    expect(clear).toContain('  links         east  (mirrors their exported services; in clear)\n');
    expect(clear).toContain('  leaf nodes    127.0.0.1:7422  (no TLS; linked clusters connect here)\n');
    expect(clear).not.toContain('leaf node CA');
  });
});
