import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Server } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@meshbus/runtime';
import { anyone, authz, everywhere, http1Server, inboundHttpRoute, prefixMatch, byDefault } from '../inbound/test-policy.js';
import { ProxyMetrics } from '../metrics/index.js';
import { MeshTls, TUNNEL_ALPN } from '../tls/index.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from '../tls/test-fixtures.js';
import { tcpAddress } from './discovery.js';
import { InboundProxy } from './inbound-proxy.js';
import { OutboundProxy } from './outbound-proxy.js';
import { TestDiscovery } from './test-fixtures.js';
import { servicePolicy } from './transparent-test-policies.js';

// An HTTP request from the outbound proxy to a mirrored service's endpoint: through a real test
// gateway (mesh TLS with the gateway's certificate, CONNECT) to a real inbound proxy of the
// remote workload, which sees the client's identity and the remote authority.

const clientId = 'web.shop.serviceaccount.identity.meshbus.test';
const remoteId = 'api.shop.serviceaccount.identity.meshbus.test';
const canaryId = 'api-canary.shop.serviceaccount.identity.meshbus.test';
const strangerId = 'db.data.serviceaccount.identity.meshbus.test';
const gatewayId = 'gateway.mc.serviceaccount.identity.meshbus.test';
const mirrored = 'api-east.shop.svc.cluster.local:8080';
/** Another mirrored service behind the same gateway, whose remote workloads present two identities. */
const mirroredTwo = 'api2-east.shop.svc.cluster.local:8080';

const listen = async (server: Server | HttpServer): Promise<number> => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

describe('outbound HTTP to an endpoint behind a multicluster gateway', () => {
  let mesh: TestMesh;
  let workload: HttpServer;
  let peer: InboundProxy;
  let canaryPeer: InboundProxy;
  let strangerPeer: InboundProxy;
  let gateway: Server;
  /** What the test gateway does with the next CONNECTs: which proxy it relays to, and the identity it names. */
  const plans: { port: () => number; identity?: string }[] = [];
  let client: OutboundProxy;
  let registry: Registry;
  let clientTls: MeshTls;
  let discovery: TestDiscovery;
  const connects: string[] = [];

  beforeAll(async () => {
    mesh = createTestMesh();
    workload = createHttpServer((req, res) => res.end(`host=${req.headers.host} client=${String(req.headers['l5d-client-id'] ?? '')}`));
    const workloadPort = await listen(workload);
    const route = inboundHttpRoute(byDefault('all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')]);
    const inbound = async (identity: string): Promise<InboundProxy> => {
      const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(identity)) });
      const proxy = new InboundProxy({ tls, policy: () => http1Server([authz(anyone, { networks: everywhere })], [route]), ports: [workloadPort], metrics: new ProxyMetrics(new Registry()), logger: silentLogger(), detectTimeoutMs: 300 });
      await proxy.listen('127.0.0.1', 0);
      return proxy;
    };
    peer = await inbound(remoteId);
    canaryPeer = await inbound(canaryId);
    strangerPeer = await inbound(strangerId);
    const gatewayTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(gatewayId)), serverAlpn: [TUNNEL_ALPN] });
    gateway = gatewayTls.createServer(({ socket }) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        connects.push(head.subarray(0, head.indexOf('\r\n')).toString());
        const plan = plans.shift() ?? { port: () => peer.port };
        const upstream = netConnect({ host: '127.0.0.1', port: plan.port() }, () => {
          socket.write(`HTTP/1.1 200 OK\r\n${plan.identity === undefined ? '' : `Meshbus-Target-Identity: ${plan.identity}\r\n`}\r\n`);
          upstream.write(head.subarray(end + 4));
          socket.pipe(upstream).pipe(socket);
        });
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
      };
      socket.on('data', onData);
    });
    const gatewayPort = await listen(gateway);
    discovery = new TestDiscovery();
    // Both mirrored services live behind the one gateway; api2's remote workloads present two identities.
    const behindGateway = (authority: string, service: string, remoteService: string, identities: string[]): void => {
      discovery.byAuthority.set(authority, servicePolicy(service, 'shop', 8080));
      discovery.paths.set(authority, [
        {
          addr: tcpAddress(`127.0.0.1:${gatewayPort}`),
          weight: 1,
          metricLabels: {},
          tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: remoteId } } },
          authorityOverride: { authorityOverride: `${remoteService}.shop.svc.cluster.local:${workloadPort}` },
          meshbusGateway: { cluster: 'east', identity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: gatewayId } } }, identities },
        },
      ]);
    };
    behindGateway(mirrored, 'api-east', 'api', []);
    behindGateway(mirroredTwo, 'api2-east', 'api2', [canaryId, remoteId]);
    registry = new Registry();
    clientTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(clientId)) });
    client = new OutboundProxy({ tls: clientTls, discovery, metrics: new ProxyMetrics(registry), logger: silentLogger(), policyTimeoutMs: 500 });
    await client.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await client?.close(100);
    await peer?.close(100);
    await canaryPeer?.close(100);
    await strangerPeer?.close(100);
    gateway?.close();
    workload?.close();
  });

  const get = (authority = mirrored): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: client.port, path: '/hello', headers: { host: authority }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('tunnels through the gateway, and the remote workload sees the remote authority and the client identity', async () => {
    const first = await get();
    expect(first.status).toBe(200);
    expect(first.body).toMatch(new RegExp(`^host=api\\.shop\\.svc\\.cluster\\.local:\\d+ client=${clientId.replace(/\./g, '\\.')}$`));
    // A second request shares the tunnel's HTTP/2 session.
    expect((await get()).status).toBe(200);
    expect(connects).toHaveLength(1);
    expect(connects[0]).toMatch(/^CONNECT api\.shop\.svc\.cluster\.local:\d+ HTTP\/1\.1$/);
    expect(await registry.getSingleMetricAsString('outbound_tunnel_connect_total')).toContain('outbound_tunnel_connect_total{gateway_cluster="east",result="ok"} 1');
  });

  it('requires inside the tunnel the identity the gateway names, when the remote service presents it', async () => {
    plans.push({ port: () => canaryPeer.port, identity: canaryId });
    const answer = await get(mirroredTwo);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^host=api2\.shop\.svc\.cluster\.local:\d+ client=/);
    expect(connects.at(-1)).toMatch(/^CONNECT api2\.shop\.svc\.cluster\.local:\d+ HTTP\/1\.1$/);
    expect(plans).toHaveLength(0);
  });

  it('refuses a workload whose identity the remote service does not present, even one the anchors trust', async () => {
    // A new tunnel (the earlier ones are closed), to a workload the gateway names as a stranger, then
    // one to the same stranger under an identity of the service: its certificate proves otherwise.
    for (const [client_, server_] of [[strangerId, strangerId], [canaryId, strangerId]] as const) {
      await client.close(100);
      const fresh = new Registry();
      client = new OutboundProxy({ tls: clientTls, discovery, metrics: new ProxyMetrics(fresh), logger: silentLogger(), policyTimeoutMs: 500 });
      await client.listen('127.0.0.1', 0);
      plans.push({ port: () => strangerPeer.port, identity: client_ });
      const answer = await get(mirroredTwo);
      expect(answer.status, `named ${client_}, proved ${server_}`).toBeGreaterThanOrEqual(500);
      expect(await fresh.getSingleMetricAsString('outbound_tunnel_connect_total')).toMatch(/outbound_tunnel_connect_total\{gateway_cluster="east",result="error"\} [1-9]/);
    }
    expect(plans).toHaveLength(0);
  });
});
