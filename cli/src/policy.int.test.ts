import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects, type InboundPolicy, type PolicyDefaults, type PolicyStatus } from '@meshbus/bus-schemas';
import { inbound, outbound } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { jsonLines, runCli } from './cli-process.js';

type Connection = Awaited<ReturnType<typeof connectBus>>;

const reader = { user: 'cli-reader', password: 'reader-secret' };
const writer = { user: 'test-writer', password: 'writer-secret' };

const defaults: PolicyDefaults = {
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['0.0.0.0/0'],
  detectTimeoutMs: 10_000,
  identityDomain: 'identity.meshbus.cluster.local',
  namespaces: [{ namespace: 'bank', defaultPolicy: 'deny' }],
};

const webPolicy: InboundPolicy = {
  namespace: 'shop',
  workload: 'web-1',
  defaultPolicy: 'all-unauthenticated',
  ports: [
    {
      port: 8080,
      server: {
        metadata: { kind: 'Server', namespace: 'shop', name: 'web-http' },
        protocol: 'http1',
        labels: { kind: 'server', name: 'web-http' },
        authorizations: [
          {
            metadata: { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'web-from-front' },
            networks: [{ net: '0.0.0.0/0' }],
            authentication: { kind: 'meshTls', identities: ['front.shop.serviceaccount.identity.meshbus.cluster.local'] },
          },
        ],
        httpRoutes: [],
      },
    },
  ],
  defaultServer: {
    metadata: { default: 'all-unauthenticated' },
    protocol: 'detect',
    labels: {},
    authorizations: [{ metadata: { default: 'all-unauthenticated' }, networks: [{ net: '0.0.0.0/0' }, { net: '::/0' }], authentication: { kind: 'unauthenticated' } }],
  },
};

const status_ = (namespace: string, kind: string, name: string, file: string, problem?: string): PolicyStatus => ({
  kind,
  namespace,
  name,
  file,
  accepted: problem === undefined,
  conditions: [problem === undefined ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'accepted' } : { type: 'Accepted', status: 'False', reason: 'InvalidResource', message: problem }],
});

const inboundServer = (name: string): inbound.Server => ({
  protocol: { kind: { $case: 'http1', http1: { routes: [] } } },
  serverIps: [],
  labels: { kind: 'server', name },
  authorizations: [
    {
      metadata: { kind: { $case: 'resource', resource: { group: '', kind: 'AuthorizationPolicy', namespace: 'shop', name: 'web-from-front', section: '', port: 0 } } },
      networks: [{ net: { ip: { ip: { $case: 'ipv4', ipv4: 0 } }, prefixLen: 0 }, except: [] }],
      authentication: { permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } } },
      labels: {},
    },
  ],
});

const outboundPolicy: outbound.OutboundPolicy = {
  metadata: { kind: { $case: 'resource', resource: { group: 'core', kind: 'Service', namespace: 'shop', name: 'web', section: '', port: 80 } } },
  protocol: {
    kind: {
      $case: 'http1',
      http1: {
        routes: [
          {
            metadata: { kind: { $case: 'resource', resource: { group: '', kind: 'HTTPRoute', namespace: 'shop', name: 'web-canary', section: '', port: 0 } } },
            hosts: [],
            rules: [
              {
                matches: [],
                filters: [],
                backends: {
                  kind: {
                    $case: 'randomAvailable',
                    randomAvailable: {
                      backends: [
                        { weight: 90, backend: { filters: [], backend: { metadata: { kind: { $case: 'default', default: 'web-v1' } }, kind: { $case: 'balancer', balancer: { discovery: { kind: { $case: 'dst', dst: { path: 'web-v1.shop.svc.cluster.local:80' } } } } } } } },
                        { weight: 10, backend: { filters: [], backend: { metadata: { kind: { $case: 'default', default: 'web-v2' } }, kind: { $case: 'balancer', balancer: { discovery: { kind: { $case: 'dst', dst: { path: 'web-v2.shop.svc.cluster.local:80' } } } } } } } },
                      ],
                    },
                  },
                },
                timeouts: { request: { seconds: 5n, nanos: 0 } },
                allowL5dRequestHeaders: false,
              },
            ],
          },
        ],
      },
    },
  },
};

/**
 * The CLI against a real nats-server (with per-role logins; the CLI reads as
 * the reader, as it does against `meshbus dev`) holding state this test
 * publishes, and against a gRPC server started here that implements the
 * inbound and outbound policy services of the proxy API. It stands in for the
 * gateway's policy servers, which have tests of their own; the end-to-end
 * test of the whole mesh covers the two together.
 */
describe('meshbus policy and authz against real NATS and a real gRPC server', () => {
  let nats: NatsCluster;
  let nc: Connection;
  let publisher: JetStreamPublisher;
  let cwd: string;
  let gateway: string;
  const grpc = new Server();
  const portSpecs: inbound.PortSpec[] = [];
  const trafficSpecs: outbound.TrafficSpec[] = [];
  const watchers: ServerWritableStream<inbound.PortSpec, inbound.Server>[] = [];

  beforeAll(async () => {
    const block = natsAuthorizationConfig([{ ...reader, role: 'reader' }]).replace('users = [\n', `users = [\n    { user: "${writer.user}", password: "${writer.password}" }\n`);
    nats = await startNats({ authorization: block });
    nc = await connectBus({ servers: [nats.url], name: 'policy-cli-test', ...writer }, silentLogger());
    await ensureStreams(await nc.jetstreamManager());
    publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/policy/policy-1', term: () => 1 });

    grpc.addService(inbound.InboundServerPoliciesService, {
      getPort: (call: ServerUnaryCall<inbound.PortSpec, inbound.Server>, done: sendUnaryData<inbound.Server>) => {
        portSpecs.push(call.request);
        if (call.request.port === 9999) done({ code: status.NOT_FOUND, details: 'no such port' });
        else done(null, inboundServer('web-http'));
      },
      watchPort: (call: ServerWritableStream<inbound.PortSpec, inbound.Server>) => {
        portSpecs.push(call.request);
        watchers.push(call);
        call.write(inboundServer('web-http'));
      },
    });
    grpc.addService(outbound.OutboundPoliciesService, {
      get: (call: ServerUnaryCall<outbound.TrafficSpec, outbound.OutboundPolicy>, done: sendUnaryData<outbound.OutboundPolicy>) => {
        trafficSpecs.push(call.request);
        done(null, outboundPolicy);
      },
      watch: (call: ServerWritableStream<outbound.TrafficSpec, outbound.OutboundPolicy>) => {
        trafficSpecs.push(call.request);
        call.write(outboundPolicy);
      },
    });
    const port = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    gateway = `127.0.0.1:${port}`;

    // What a running `meshbus dev` leaves for the other commands: NATS, its reader login, the gateway.
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-policy-'));
    await mkdir(join(cwd, '.meshbus'));
    await writeFile(
      join(cwd, '.meshbus', 'dev.json'),
      JSON.stringify({ natsUrl: nats.url, gateways: [gateway], admin: {}, pid: process.pid, natsUsers: { reader, workload: { user: 'nobody', password: 'none' } } }),
    );
  });
  afterAll(async () => {
    grpc.forceShutdown();
    await nc?.close();
    await nats?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('policy check: nothing published yet is exit code 1 with a clear message', async () => {
    const cli = runCli(['policy', 'check'], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain('nothing to check: the policy service has published no status and no defaults');
  });

  it('policy check: lists the rejected resources, exit code 1; 0 once they are fixed or within a clean namespace', async () => {
    await publisher.publish('policyDefaults', subjects.policyDefaults, 'cluster', defaults);
    await publisher.publish('policyStatus', subjects.policyStatus('shop', 'server', 'web-http'), 'shop/Server/web-http', status_('shop', 'Server', 'web-http', 'shop/policy.yaml'));
    await publisher.publish(
      'policyStatus',
      subjects.policyStatus('bank', 'networkauthentication', 'office'),
      'bank/NetworkAuthentication/office',
      status_('bank', 'NetworkAuthentication', 'office', 'bank/policy.yaml', 'networks[0].cidr "10.0.0.0/33" is not a CIDR'),
    );

    const rejected = runCli(['policy', 'check'], { cwd });
    expect((await rejected.exited).code).toBe(1);
    expect(rejected.output()).toContain(
      [
        'FILE              RESOURCE                           REASON',
        'bank/policy.yaml  NetworkAuthentication bank/office  InvalidResource: networks[0].cidr "10.0.0.0/33" is not a CIDR',
        '1 rejected, 1 accepted',
      ].join('\n'),
    );
    expect(rejected.output()).toContain('meshbus: 1 policy resource rejected');

    const shop = runCli(['policy', 'check', '--namespace', 'shop', '--json'], { cwd });
    expect((await shop.exited).code).toBe(0);
    expect(jsonLines(shop.output())).toEqual([{ published: true, namespace: 'shop', acceptedCount: 1, conflictedCount: 0, rejectedCount: 0, rejected: [], conflicted: [] }]);

    // The resource is removed: its status is deleted, and nothing is rejected any more.
    await publisher.publish('policyStatusDeleted', subjects.policyStatus('bank', 'networkauthentication', 'office'), 'bank/NetworkAuthentication/office', { reason: 'resource removed' });
    const clean = runCli(['policy', 'check'], { cwd });
    expect((await clean.exited).code).toBe(0);
    expect(clean.output()).toBe('0 rejected, 1 accepted\n');
  });

  it('authz: shows who may reach a workload, and the namespace default for an unknown one', async () => {
    await publisher.publish('policyDefaults', subjects.policyDefaults, 'cluster', defaults);
    await publisher.publish('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), 'shop/web-1', webPolicy);

    const known = runCli(['authz', 'shop/web-1'], { cwd });
    expect((await known.exited).code).toBe(0);
    expect(known.output()).toContain(
      [
        'shop/web-1: default policy all-unauthenticated; 1 port with a server of its own',
        'PORT  SERVER                       ROUTE  AUTHORIZATION                       NETWORKS        CLIENTS',
        '8080  server/web-http              *      authorizationpolicy/web-from-front  0.0.0.0/0       front.shop.serviceaccount.identity.meshbus.cluster.local',
        '*     default:all-unauthenticated  *      default:all-unauthenticated         0.0.0.0/0,::/0  anyone (unauthenticated)',
      ].join('\n'),
    );

    const json = runCli(['authz', 'shop/web-1', '--json'], { cwd });
    expect((await json.exited).code).toBe(0);
    expect(jsonLines(json.output())).toEqual([{ namespace: 'shop', workload: 'web-1', known: true, policy: webPolicy }]);

    const unknown = runCli(['authz', 'bank/teller-1'], { cwd });
    expect((await unknown.exited).code).toBe(0);
    expect(unknown.output()).toContain('no inbound policy is published for bank/teller-1: the policy service does not know this workload');
    expect(unknown.output()).toContain('a proxy of it would get the default policy deny on every port (the setting of namespace bank):\n  who:             no one\n');
  });

  it('policy inbound: asks GetPort with the workload as a proxy names it and prints the server, or its JSON', async () => {
    const cli = runCli(['policy', 'inbound', 'shop/web-1', '8080'], { cwd });
    expect((await cli.exited).code).toBe(0);
    expect(portSpecs.at(-1)).toEqual({ workload: '{"ns":"shop","pod":"web-1"}', port: 8080 });
    expect(cli.output()).toContain(
      [
        `shop/web-1 port 8080 via ${gateway}`,
        'protocol:   HTTP/1',
        'server:     server web-http',
        'labels:     kind=server,name=web-http',
        'authorizations (1):',
        '  authorizationpolicy shop/web-from-front',
        '    networks:       0.0.0.0/0',
        '    authentication: any TLS client',
        'routes: none: every request is refused (404)',
      ].join('\n'),
    );

    const json = runCli(['policy', 'inbound', 'shop/web-1', '8080', '--json', '--gateway', gateway], { cwd });
    expect((await json.exited).code).toBe(0);
    expect(inbound.Server.fromJSON(jsonLines(json.output())[0])).toEqual(inboundServer('web-http'));

    const missing = runCli(['policy', 'inbound', 'shop/web-1', '9999'], { cwd });
    expect((await missing.exited).code).toBe(1);
    expect(missing.output()).toContain(`meshbus: gateway ${gateway}: NOT_FOUND (5): no such port`);
  });

  it('policy inbound --watch: prints every update of WatchPort, reopens an ended stream, until stopped', async () => {
    const before = watchers.length;
    const cli = runCli(['policy', 'inbound', 'shop/web-1', '8080', '--watch', '--json'], { cwd });
    await waitFor(() => jsonLines(cli.output()).length >= 1 && watchers.length > before, { what: 'the first update', timeoutMs: 15_000 });
    watchers.at(-1)!.write(inboundServer('web-http-v2'));
    await waitFor(() => jsonLines(cli.output()).length >= 2, { what: 'the second update' });
    const [first, second] = jsonLines(cli.output()).map((l) => inbound.Server.fromJSON(l));
    expect(first!.labels.name).toBe('web-http');
    expect(second!.labels.name).toBe('web-http-v2');
    expect(cli.output()).toContain('watching for changes (Ctrl-C to stop)');

    // The gateway ends the stream: the CLI says so and opens another, whose first update it prints.
    const opened = watchers.length;
    watchers.at(-1)!.end();
    await waitFor(() => jsonLines(cli.output()).length >= 3 && watchers.length > opened, { what: 'the update of a new stream', timeoutMs: 15_000 });
    expect(cli.output()).toMatch(new RegExp(`stream interrupted: gateway ${gateway} ended the stream; reconnecting to ${gateway}`));
    expect(inbound.Server.fromJSON(jsonLines(cli.output())[2]).labels.name).toBe('web-http');
    expect((await cli.stop()).code).toBe(0);
  });

  it('policy outbound: asks Get by authority (with the source workload) or by address and prints the policy', async () => {
    const cli = runCli(['policy', 'outbound', 'web.shop:80', '--source', 'shop/front-1'], { cwd });
    expect((await cli.exited).code).toBe(0);
    expect(trafficSpecs.at(-1)).toEqual({ sourceWorkload: '{"ns":"shop","pod":"front-1"}', target: { $case: 'authority', authority: 'web.shop.svc.cluster.local:80' } });
    expect(cli.output()).toContain(
      [
        `web.shop.svc.cluster.local:80 via ${gateway}`,
        'protocol: HTTP/1',
        'policy:   service shop/web port 80',
        'HTTP/1 routes (1):',
        '  httproute shop/web-canary',
        '    hosts: any',
        '    rule 1:',
        '      match:  any request',
        '      backends (random, by weight, total 100):',
        '        weight 90  default web-v1 -> dst web-v1.shop.svc.cluster.local:80 (p2c)',
        '        weight 10  default web-v2 -> dst web-v2.shop.svc.cluster.local:80 (p2c)',
        '      timeouts: request 5s',
        'HTTP/1 failure accrual: none',
      ].join('\n'),
    );

    const byAddress = runCli(['policy', 'outbound', '--address', '10.0.0.7:8080', '--json', '--watch'], { cwd });
    await waitFor(() => jsonLines(byAddress.output()).length >= 1, { what: 'the Watch update', timeoutMs: 15_000 });
    expect(trafficSpecs.at(-1)).toEqual({ sourceWorkload: '', target: { $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000007 } }, port: 8080 } } });
    expect(outbound.OutboundPolicy.fromJSON(jsonLines(byAddress.output())[0])).toEqual(outboundPolicy);
    expect((await byAddress.stop()).code).toBe(0);
  });

  it('refuses a bad workload, port, target or address with exit code 2 before connecting', async () => {
    const cases: [string[], string][] = [
      [['policy', 'inbound', 'web-1', '8080'], 'workload "web-1" must be <namespace>/<workload>'],
      [['policy', 'inbound', 'shop/web-1', '70000'], 'port 70000 is out of range'],
      [['policy', 'outbound', 'web:80'], 'target "web:80" must be <service>.<namespace>:<port>'],
      [['policy', 'outbound', '--address', 'web:80'], '--address "web:80": "web" is not an IP address'],
      [['policy', 'outbound'], 'give either a target'],
      [['authz', 'shop'], 'workload "shop" must be <namespace>/<workload>'],
      [['policy', 'check', '--namespace', 'Shop_1'], '--namespace "Shop_1" must be a DNS label'],
    ];
    const before = portSpecs.length + trafficSpecs.length;
    for (const [args, message] of cases) {
      const cli = runCli(args, { cwd });
      expect((await cli.exited).code, args.join(' ')).toBe(2);
      expect(cli.output()).toContain(message);
    }
    expect(portSpecs.length + trafficSpecs.length).toBe(before);
  });
});
