import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { connect, headers as natsHeaders, RequestStrategy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateClient } from '@meshbus/identity-client';
import type { IdentityService } from '@meshbus/identity';
import type { DestinationService } from '@meshbus/destination';
import type { Gateway } from '@meshbus/gateway';
import { encodeEvent, ensureStreams, JetStreamPublisher, LeaderElection, StateView, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator, streams, subjects, type InboundPolicy, type InboundServer, type MetricsSummary } from '@meshbus/bus-schemas';
import { natsInboxPrefix, silentLogger } from '@meshbus/runtime';
import { httpGet, natsAuthorizationConfig, waitFor, type NatsCluster, type NatsRole } from '@meshbus/testing';
import { destinationClient, EndpointWatcher, repoRoot, startMesh, type Mesh } from './harness.js';

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const roles: NatsRole[] = ['destination', 'policy', 'gateway', 'identity', 'workload', 'reader', 'tap'];
const password = (role: NatsRole) => `${role}-pw-0123456789`;
const login = (role: NatsRole) => ({ NATS_USER: role, NATS_PASSWORD: password(role) });

/** An operator login with every permission, to look at what the roles left behind. */
const admin = { user: 'admin', pass: 'admin-pw-0123456789' };
const withAdmin = (authorization: string) => authorization.replace('users = [\n', `users = [\n    { user: "${admin.user}", password: "${admin.pass}" }\n`);

/** A connection as `role`, with its private inbox prefix, that records the permission violations the server reports. */
async function connectAs(url: string, role: NatsRole): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ servers: url, user: role, pass: password(role), inboxPrefix: natsInboxPrefix(role) });
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.permissionContext) violations.push(`${s.permissionContext.operation} ${s.permissionContext.subject}`);
  })();
  return { nc, violations };
}

describe('per-service NATS users with least-privilege permissions', () => {
  let mesh: Mesh;
  let nats: NatsCluster;
  let dir: string;
  let dst: DestinationService;
  let gw: Gateway;
  let idsvc: IdentityService;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-nats-perm-'));
    cli(['identity', 'init', '--dir', join(dir, 'identity')]);
    mesh = await startMesh({
      nats: { authorization: withAdmin(natsAuthorizationConfig(roles.map((role) => ({ user: role, password: password(role), role })))) },
      destination: true,
      gateway: true,
      identity: true,
      identityDir: join(dir, 'identity'),
      env: { destination: login('destination'), gateway: { ...login('gateway'), MESHBUS_ENSURE_STREAMS: 'false' }, identity: login('identity') },
      // The gateway first: with its read-only user it waits for the streams a writer creates.
      order: ['gateway', 'destination', 'identity'],
    });
    ({ nats, destination: dst, gateway: gw, identity: idsvc } = mesh);
  }, 60_000);
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a client without a user', async () => {
    await expect(connect({ servers: nats.url })).rejects.toThrow(/Authorization Violation/i);
  });

  it('lets destination and gateway serve endpoints with their own users', async () => {
    await waitFor(async () => (await httpGet(`${dst.adminUrl}/ready`)).status === 200, { what: 'destination ready' });
    await waitFor(async () => (await httpGet(`${gw.adminUrl}/ready`)).status === 200, { what: 'gateway ready' });
    const client = destinationClient(gw.grpcPort);
    const w = new EndpointWatcher(client, 'web.shop.svc.cluster.local:80');
    try {
      await waitFor(() => w.addresses().length > 0, { what: 'web endpoints' });
      expect(w.addresses()).toContain('127.0.0.11:8080');
    } finally {
      w.cancel();
      client.close();
    }
  });

  it('lets the gateway forward a Certify that identity answers with its own user', async () => {
    await waitFor(() => idsvc.readiness().ready, { what: 'identity ready' });
    const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
    const token = cli(['identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'identity', 'token.key')]).trim();
    await using c = new CertificateClient({
      identity,
      tokenProvider: async () => Buffer.from(token),
      gateways: [`127.0.0.1:${gw.grpcPort}`],
      credentials: credentials.createInsecure(),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    expect((await c.start()).identity).toBe(identity);
  });

  it('lets a tap login ask for taps and read tapped records that the gateway publishes, and keeps the reader out of both', async () => {
    const gateway = await connectAs(nats.url, 'gateway');
    const tap = await connectAs(nats.url, 'tap');
    const reader = await connectAs(nats.url, 'reader');
    conns.push(gateway.nc, tap.nc, reader.nc);
    const requests = gateway.nc.subscribe('meshbus.v1.tap.requests.*.*');
    const records = tap.nc.subscribe('meshbus.v1.tap.events.*');
    await Promise.all([gateway.nc.flush(), tap.nc.flush()]);
    tap.nc.publish('meshbus.v1.tap.requests.shop.api', 'start');
    const [request] = await Promise.all([(async () => { for await (const m of requests) return m.subject; })()]);
    expect(request).toBe('meshbus.v1.tap.requests.shop.api');
    gateway.nc.publish('meshbus.v1.tap.events.s1', 'record');
    for await (const m of records) {
      expect(m.subject).toBe('meshbus.v1.tap.events.s1');
      break;
    }
    expect(gateway.violations).toEqual([]);
    expect(tap.violations).toEqual([]);
    reader.nc.subscribe('meshbus.v1.tap.events.*');
    await waitFor(() => reader.violations.includes('subscription meshbus.v1.tap.events.*'), { what: 'reader refused tap records' });
    reader.nc.publish('meshbus.v1.tap.requests.shop.api', 'start');
    await waitFor(() => reader.violations.includes('publish meshbus.v1.tap.requests.shop.api'), { what: 'reader refused tap requests' });
    // The tap login cannot pose as the gateway.
    tap.nc.publish('meshbus.v1.tap.events.s1', 'forged');
    await waitFor(() => tap.violations.includes('publish meshbus.v1.tap.events.s1'), { what: 'tap login refused publishing records' });
  });

  it('lets the reader discover the identity service on the NATS services API', async () => {
    await waitFor(() => idsvc.readiness().ready, { what: 'identity ready' });
    const { nc, violations } = await connectAs(nats.url, 'reader');
    conns.push(nc);
    const pings = [];
    for await (const ping of await nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 }).ping('meshbus-identity')) pings.push(ping);
    expect(pings.map((p) => p.name)).toEqual(['meshbus-identity']);
    expect(violations).toEqual([]);
  });

  it('keeps the reader read-only: it follows the streams but cannot publish state nor delete or purge a stream', async () => {
    const { nc, violations } = await connectAs(nats.url, 'reader');
    conns.push(nc);
    const jsm = await nc.jetstreamManager({ timeout: 2000 });
    // Run on its own, this test may come before destination's first publication.
    await waitFor(async () => (await jsm.streams.info('MESHBUS_STATE')).state.messages > 0, { what: 'state published' });

    nc.publish('meshbus.v1.state.endpoints.x.y.80', new Uint8Array());
    await waitFor(() => violations.includes('publish meshbus.v1.state.endpoints.x.y.80'), { what: 'publish refused' });
    await expect(jsm.streams.delete('MESHBUS_STATE')).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.MESHBUS_STATE"/);
    await expect(jsm.streams.purge('MESHBUS_STATE')).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.PURGE\.MESHBUS_STATE"/);
    expect((await jsm.streams.info('MESHBUS_STATE')).state.messages).toBeGreaterThan(0);
  });

  it('lets policy set up the streams, elect on its own lease key and write its own state and events, and nothing else', async () => {
    const policy = await connectAs(nats.url, 'policy');
    const reader = await connectAs(nats.url, 'reader');
    conns.push(policy.nc, reader.nc);
    await ensureStreams(await policy.nc.jetstreamManager({ timeout: 2000 }), { replicas: 1 });
    let term: number | undefined;
    const election = new LeaderElection({ nc: policy.nc, role: 'policy', holder: 'policy-perm', leaseMs: 1000, logger: silentLogger(), onElected: (t) => void (term = t), onDeposed: () => undefined });
    await election.start();
    try {
      await waitFor(() => election.isLeader, { what: 'policy lease taken with the policy login' });
      const publisher = new JetStreamPublisher({ js: policy.nc.jetstream(), validator: busValidator(), source: '/meshbus/policy/policy-perm', term: () => election.term });
      const server: InboundServer = { metadata: { default: 'deny' }, protocol: 'detect', labels: {}, authorizations: [] };
      const inbound: InboundPolicy = { namespace: 'perm', workload: 'w-1', defaultPolicy: 'deny', ports: [{ port: 8080, server }], defaultServer: server };
      await publisher.publish('inboundPolicy', subjects.inboundPolicy('perm', 'w-1'), 'perm/w-1', inbound);
      await publisher.publish('policyStatus', subjects.policyStatus('perm', 'Server', 's'), 'perm/Server/s', { kind: 'Server', namespace: 'perm', name: 's', file: 'a.yaml', accepted: true, conditions: [] });
      await publisher.publish('policyRejected', subjects.policyRejected, 'perm/Server/t', { file: 'a.yaml', kind: 'Server', namespace: 'perm', name: 't', reason: 'test' });
      await publisher.publish('leaderChanged', subjects.leader('policy'), 'policy', { role: 'policy', holder: 'policy-perm', term: term! });
      await publisher.publish('publishFailed', subjects.publishFailed, subjects.inboundPolicy('perm', 'w-2'), { subject: subjects.inboundPolicy('perm', 'w-2'), kind: 'inboundPolicy', reason: 'test', attempts: 1, since: new Date().toISOString() });
      await publisher.publish('inboundPolicyDeleted', subjects.inboundPolicy('perm', 'w-1'), 'perm/w-1', { reason: 'test' });
      expect(policy.violations).toEqual([]);

      // Readers (a reader login, as the gateway's) read the policy state.
      const view = new StateView({ nc: reader.nc, filter: 'meshbus.v1.state.policy-status.>', validator: busValidator(), logger: silentLogger() });
      await view.start();
      expect(view.get(subjects.policyStatus('perm', 'Server', 's'))?.data).toMatchObject({ name: 's', accepted: true });
      await view.stop();
      expect(reader.violations).toEqual([]);

      // Not the destination's state, not its events, not its lease.
      const js = policy.nc.jetstream();
      await expect(js.publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation for Publish to "meshbus.v1.state.endpoints.shop.web.80"/);
      await expect(js.publish('meshbus.v1.state.workloads.shop.vm-9', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
      await expect(js.publish('meshbus.v1.events.leader.destination', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
      await expect(js.publish('meshbus.v1.events.manifest.rejected', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
      await expect(js.publish('$KV.meshbus-leases.destination', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation for Publish to "\$KV\.meshbus-leases\.destination"/);
      await expect((await policy.nc.jetstreamManager({ timeout: 2000 })).streams.purge('MESHBUS_STATE')).rejects.toThrow(/Permissions Violation/);
    } finally {
      await election.stop();
    }
  });

  it('lets no role delete a lease watch: not the running destination\'s, not its own', async () => {
    const destination = await connectAs(nats.url, 'destination');
    const policy = await connectAs(nats.url, 'policy');
    const root = await connect({ servers: nats.url, ...admin });
    conns.push(destination.nc, policy.nc, root);
    const rootJsm = await root.jetstreamManager();
    // The running destination watches its lease key with an ordered consumer on the bucket's stream.
    const watches = await waitFor(async () => {
      const list = await rootJsm.consumers.list('KV_meshbus-leases').next();
      return list.length > 0 && list;
    }, { what: 'the destination\'s lease watch' });
    const victim = watches[0]!.name;
    for (const who of [destination, policy]) {
      await expect(who.nc.request(`$JS.API.CONSUMER.DELETE.KV_meshbus-leases.${victim}`, undefined, { timeout: 2000 })).rejects.toThrow(
        new RegExp(`Permissions Violation for Publish to "\\$JS\\.API\\.CONSUMER\\.DELETE\\.KV_meshbus-leases\\.${victim}"`),
      );
      await expect(who.nc.request(`$JS.API.CONSUMER.INFO.KV_meshbus-leases.${victim}`, undefined, { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    }
    expect((await rootJsm.consumers.list('KV_meshbus-leases').next()).map((c) => c.name)).toContain(victim);
    expect(dst.isLeader).toBe(true);
  });

  it('keeps the destination off the policy state', async () => {
    const destination = await connectAs(nats.url, 'destination');
    conns.push(destination.nc);
    const js = destination.nc.jetstream();
    await expect(js.publish('meshbus.v1.state.inbound-policy.shop.web-1', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(
      /Permissions Violation for Publish to "meshbus.v1.state.inbound-policy.shop.web-1"/,
    );
    await expect(js.publish('meshbus.v1.state.outbound-policy.shop.web.80', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    await expect(js.publish('meshbus.v1.events.policy.rejected', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
  });

  it('keeps the gateway off state it does not own', async () => {
    const gateway = await connectAs(nats.url, 'gateway');
    conns.push(gateway.nc);
    gateway.nc.publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array());
    await waitFor(() => gateway.violations.includes('publish meshbus.v1.state.endpoints.shop.web.80'), { what: 'gateway publish refused' });
    // Its traffic summaries, and no event (the summaries' old subject in the events stream included).
    gateway.nc.publish('meshbus.v1.metrics.shop.web', new Uint8Array());
    gateway.nc.publish('meshbus.v1.events.identity.certificate-issued', new Uint8Array());
    gateway.nc.publish('meshbus.v1.events.metrics.shop.web', new Uint8Array());
    gateway.nc.publish('meshbus.v1.metrics.shop.web.extra', new Uint8Array());
    await waitFor(() => gateway.violations.includes('publish meshbus.v1.metrics.shop.web.extra'), { what: 'gateway publish of a deeper subject refused' });
    expect(gateway.violations).toContain('publish meshbus.v1.events.identity.certificate-issued');
    expect(gateway.violations).toContain('publish meshbus.v1.events.metrics.shop.web');
    expect(gateway.violations).not.toContain('publish meshbus.v1.metrics.shop.web');
  });

  it('lets the writers create MESHBUS_METRICS, the gateway alone fill it, and the reader follow it with ordered consumers only', async () => {
    const gateway = await connectAs(nats.url, 'gateway');
    const reader = await connectAs(nats.url, 'reader');
    const destination = await connectAs(nats.url, 'destination');
    conns.push(gateway.nc, reader.nc, destination.nc);
    const jsm = await reader.nc.jetstreamManager({ timeout: 2000 });
    // destination and identity ensured the streams at start with their own logins.
    await waitFor(() => jsm.streams.info(streams.metrics.name).then(() => true, () => false), { what: 'MESHBUS_METRICS created' });

    const subject = subjects.metricsSummary('perm', 'web');
    const summary: MetricsSummary = {
      namespace: 'perm',
      workload: 'web',
      identity: 'web.perm.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-1',
      intervalStart: new Date().toISOString(),
      intervalMs: 10_000,
      latencyBoundsMs: [1, 5, 10, 50, 100, 500, 1000],
      requests: [],
      tcp: [],
    };
    const encoded = encodeEvent('metricsSummary', subject, summary, { source: '/meshbus/gateway/perm', subject: summary.identity }, busValidator());
    gateway.nc.publish(subject, encoded.payload, { headers: encoded.headers });
    await gateway.nc.flush();

    const seen: BusEvent[] = [];
    const sr = new StreamReader({ nc: reader.nc, stream: streams.metrics.name, filter: subjects.metricsOf('perm'), validator: busValidator(), logger: silentLogger(), from: 'all', onEvent: (e) => seen.push(e) });
    await sr.start();
    try {
      await waitFor(() => seen.length > 0, { what: 'the summary through an ordered consumer' });
      expect(seen[0]).toMatchObject({ kind: 'metricsSummary', natsSubject: subject, data: { namespace: 'perm', workload: 'web' } });
      expect(reader.violations).toEqual([]);
    } finally {
      await sr.stop();
    }
    const seq = (await jsm.streams.info(streams.metrics.name)).state.last_seq;
    await expect(jsm.streams.getMessage(streams.metrics.name, { seq })).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.consumers.add(streams.metrics.name, { durable_name: 'mine', ack_policy: 'explicit' as never })).rejects.toThrow(
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.MESHBUS_METRICS\.mine"/,
    );
    await expect(jsm.streams.purge(streams.metrics.name)).rejects.toThrow(/Permissions Violation/);
    // Nobody but the gateway writes summaries.
    for (const who of [reader, destination]) {
      who.nc.publish(subjects.metricsSummary('perm', 'forged'), encoded.payload, { headers: encoded.headers });
      await waitFor(() => who.violations.includes(`publish ${subjects.metricsSummary('perm', 'forged')}`), { what: 'a summary from another login refused' });
    }
    expect((await jsm.streams.info(streams.metrics.name, { subjects_filter: subjects.metricsOf('perm') })).state.subjects).toEqual({ [subject]: 1 });
  });

  it('keeps a workload out of the state stream: a malformed registration never lands', async () => {
    const workload = await connectAs(nats.url, 'workload');
    const root = await connect({ servers: nats.url, ...admin });
    conns.push(workload.nc, root);
    const subject = 'meshbus.v1.state.workloads.shop.vm-1';
    const h = natsHeaders();
    for (const [k, v] of Object.entries({
      'ce-specversion': '1.0',
      'ce-id': 'poison-1',
      'ce-source': '/meshbus/register/host',
      'ce-type': 'io.meshbus.v1.workload.registered',
      'ce-time': new Date().toISOString(),
      'ce-subject': 'shop/vm-1',
      'content-type': 'application/json',
    }))
      h.set(k, v);
    await expect(workload.nc.jetstream().publish(subject, new TextEncoder().encode('not json'), { headers: h, timeout: 2000 })).rejects.toThrow(
      /Permissions Violation for Publish to "meshbus.v1.state.workloads.shop.vm-1"/,
    );
    await expect(workload.nc.jetstream().publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(
      /Permissions Violation for Publish/,
    );
    const jsm = await root.jetstreamManager();
    await expect(jsm.streams.getMessage('MESHBUS_STATE', { last_by_subj: subject })).rejects.toThrow(/no message found/);
    // No JetStream at all, not even to look.
    await expect(workload.nc.jetstreamManager({ timeout: 2000 })).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.INFO"/);
  });

  it('lets a workload ask the destination replicas, served through the NATS services API and discoverable by readers', async () => {
    const dst = await connectAs(nats.url, 'destination');
    const workload = await connectAs(nats.url, 'workload');
    const reader = await connectAs(nats.url, 'reader');
    conns.push(dst.nc, workload.nc, reader.nc);
    // The running destination answers each request: an empty one is refused with a reason, which proves the path.
    for (const verb of ['register', 'heartbeat', 'deregister']) {
      const reply = await workload.nc.request(`meshbus.v1.rpc.workloads.${verb}`, new Uint8Array(), { timeout: 5000 });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ error: { code: 'InvalidRequest', retryable: false } });
    }
    const found: string[] = [];
    for await (const p of await reader.nc.services.client().ping('meshbus-destination')) found.push(p.name);
    expect(found).toContain('meshbus-destination');
    const infos: string[] = [];
    for await (const i of await reader.nc.services.client().info('meshbus-destination')) infos.push(...i.endpoints.map((e) => `${e.subject} ${e.queue_group}`));
    expect(infos).toContain('meshbus.v1.rpc.workloads.register meshbus-destination');
    expect(reader.violations).toEqual([]);
    expect(workload.violations).toEqual([]);
    // Outside its queue group the destination login sees no registration.
    dst.nc.subscribe('meshbus.v1.rpc.workloads.register');
    await waitFor(() => dst.violations.includes('subscription meshbus.v1.rpc.workloads.register'), { what: 'plain subscription refused' });
  });

  it('keeps every reply private to its role: the reader cannot subscribe to the shared inbox or another role\'s', async () => {
    const reader = await connectAs(nats.url, 'reader');
    conns.push(reader.nc);
    for (const subject of ['_INBOX.>', `${natsInboxPrefix('gateway')}.>`, `${natsInboxPrefix('identity')}.>`, '>']) {
      reader.nc.subscribe(subject);
      await waitFor(() => reader.violations.includes(`subscription ${subject}`), { what: `subscription to ${subject} refused` });
    }
  });

  it('lets the reader create ephemeral ordered consumers only: no durable, no names, no deletes', async () => {
    const reader = await connectAs(nats.url, 'reader');
    const root = await connect({ servers: nats.url, ...admin });
    conns.push(reader.nc, root);
    const jsm = await reader.nc.jetstreamManager({ timeout: 2000 });
    const rootJsm = await root.jetstreamManager();
    const existing = await rootJsm.consumers.list('MESHBUS_STATE').next();
    expect(existing.length).toBeGreaterThan(0);
    const victim = existing[0]!.name;

    await expect(jsm.consumers.add('MESHBUS_STATE', { durable_name: 'mine', ack_policy: 'explicit' as never })).rejects.toThrow(
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.MESHBUS_STATE\.mine"/,
    );
    // The ephemeral-create subject it may use refuses a durable name.
    const sneaky = await reader.nc.request(
      '$JS.API.CONSUMER.CREATE.MESHBUS_STATE',
      new TextEncoder().encode(JSON.stringify({ stream_name: 'MESHBUS_STATE', config: { durable_name: 'mine', ack_policy: 'none', deliver_subject: `${natsInboxPrefix('reader')}.x` } })),
      { timeout: 2000 },
    );
    expect(new TextDecoder().decode(sneaky.data)).toMatch(/consumer expected to be ephemeral but a durable name was set/);
    await expect(jsm.consumers.list('MESHBUS_STATE').next()).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.LIST\.MESHBUS_STATE"/);
    await expect(reader.nc.request('$JS.API.CONSUMER.NAMES.MESHBUS_STATE', undefined, { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.consumers.info('MESHBUS_STATE', victim)).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.consumers.delete('MESHBUS_STATE', victim)).rejects.toThrow(
      new RegExp(`Permissions Violation for Publish to "\\$JS\\.API\\.CONSUMER\\.DELETE\\.MESHBUS_STATE\\.${victim}"`),
    );
    expect((await rootJsm.consumers.list('MESHBUS_STATE').next()).map((c) => c.name)).toContain(victim);
    expect((await rootJsm.consumers.list('MESHBUS_STATE').next()).map((c) => c.name)).not.toContain('mine');
  });

  it('lets the reader replay the state with an ordered consumer delivered under its own inbox, and recover when the consumer is lost', async () => {
    const reader = await connectAs(nats.url, 'reader');
    const root = await connect({ servers: nats.url, ...admin });
    conns.push(reader.nc, root);
    const seen: BusEvent[] = [];
    const sr = new StreamReader({ nc: reader.nc, stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.>', validator: busValidator(), logger: silentLogger(), onEvent: (e) => seen.push(e) });
    await sr.start();
    try {
      expect(seen.some((e) => e.natsSubject === 'meshbus.v1.state.endpoints.shop.web.80')).toBe(true);
      const rootJsm = await root.jetstreamManager();
      const mine = async () => (await rootJsm.consumers.list('MESHBUS_STATE').next()).filter((c) => c.config.deliver_subject?.startsWith(`${natsInboxPrefix('reader')}.`));
      const [first] = await mine();
      expect(first).toBeDefined();
      // An operator (or a lost server) removes the consumer: nats.js recreates it with the ephemeral-create subject only.
      await rootJsm.consumers.delete('MESHBUS_STATE', first!.name);
      await waitFor(async () => (await mine()).some((c) => c.name !== first!.name), { what: 'ordered consumer recreated', timeoutMs: 15_000 });
      const h = natsHeaders();
      for (const [k, v] of Object.entries({
        'ce-specversion': '1.0',
        'ce-id': 'after-reset',
        'ce-source': '/meshbus/test',
        'ce-type': 'io.meshbus.v1.endpoints.deleted',
        'ce-time': new Date().toISOString(),
        'ce-subject': 'shop/gone:80',
        'content-type': 'application/json',
      }))
        h.set(k, v);
      await root.jetstream().publish('meshbus.v1.state.endpoints.shop.gone.80', new TextEncoder().encode(JSON.stringify({ reason: 'test' })), { headers: h });
      await waitFor(() => seen.some((e) => e.id === 'after-reset'), { what: 'event after the reset' });
      expect(reader.violations).toEqual([]);
    } finally {
      await sr.stop();
    }
  });
});
