import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects, type MetricsSummary } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { sampleEndpointSet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { jsonLines, runCli } from './cli-process.js';

type Connection = Awaited<ReturnType<typeof connectBus>>;

describe('meshbus events against a real nats-server', () => {
  let nats: NatsCluster;
  let nc: Connection;
  let publisher: JetStreamPublisher;
  let cwd: string;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectBus({ servers: [nats.url], name: 'events-test' }, silentLogger());
    await ensureStreams(await nc.jetstreamManager());
    publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/test/events' });
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-events-'));
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('prints new events from both streams as JSON lines, reporting malformed messages on stderr', async () => {
    await publisher.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: 'before', term: 1 });
    const cli = runCli(['events', '--json', '--nats-url', nats.url], { cwd });
    await waitFor(() => cli.output().includes('following'), { what: 'the CLI to subscribe', timeoutMs: 15_000 });

    await publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', {
      namespace: 'shop',
      service: 'web',
      port: 80,
      endpoints: [{ address: '127.0.0.11', port: 8080, weight: 10000 }],
    });
    await nc.jetstream().publish(subjects.endpoints('shop', 'web', 81), new TextEncoder().encode('{"no":"headers"}'));
    await publisher.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: 'destination-2', term: 2 });
    // The two streams are followed by separate consumers, so neither the order of the two events nor that of the malformed report is fixed.
    await waitFor(() => jsonLines(cli.output()).length >= 2 && cli.output().includes('dropped malformed bus message'), { what: 'two events and the malformed report' });

    const lines = jsonLines(cli.output());
    expect(lines).toHaveLength(2);
    const endpoints = lines.find((line) => line['stream'] === 'MESHBUS_STATE');
    const leader = lines.find((line) => line['stream'] === 'MESHBUS_EVENTS');
    expect(endpoints).toMatchObject({
      specversion: '1.0',
      type: 'io.meshbus.v1.endpoints.snapshot',
      source: '/meshbus/test/events',
      subject: 'shop/web/80',
      datacontenttype: 'application/json',
      dataschema: 'https://meshbus.io/schemas/v1/endpoint-set.schema.json',
      natssubject: 'meshbus.v1.state.endpoints.shop.web.80',
      stream: 'MESHBUS_STATE',
      data: { namespace: 'shop', service: 'web', port: 80, endpoints: [{ address: '127.0.0.11', port: 8080, weight: 10000 }] },
    });
    expect(endpoints!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(leader).toMatchObject({ type: 'io.meshbus.v1.leader.changed', stream: 'MESHBUS_EVENTS', data: { holder: 'destination-2', term: 2 } });
    expect(cli.output()).toMatch(/WARN\s+dropped malformed bus message .*subject=meshbus\.v1\.state\.endpoints\.shop\.web\.81.*reason=missing-header/);
    expect(cli.output()).not.toContain('"holder":"before"');

    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it('leaves the traffic summaries out unless --subject names MESHBUS_METRICS', async () => {
    const summary: MetricsSummary = {
      namespace: 'shop',
      workload: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-1',
      intervalStart: new Date().toISOString(),
      intervalMs: 10_000,
      latencyBoundsMs: [1, 5, 10, 50, 100, 500, 1000],
      requests: [],
      tcp: [],
    };
    await publisher.publish('metricsSummary', subjects.metricsSummary('shop', 'web'), summary.identity, summary);
    await publisher.publish('leaderChanged', subjects.leader('summaries'), 'summaries', { role: 'summaries', holder: 'summaries-1', term: 1 });

    const all = runCli(['events', '--replay', '--json', '--nats-url', nats.url], { cwd });
    await waitFor(() => all.output().includes('"holder":"summaries-1"'), { what: 'the replay to reach the last event', timeoutMs: 15_000 });
    expect(all.output()).toContain('following meshbus.v1.state.> (MESHBUS_STATE), meshbus.v1.events.> (MESHBUS_EVENTS)');
    expect(all.output()).not.toContain('io.meshbus.v1.metrics.summary');
    expect((await all.stop()).code).toBe(0);

    const metrics = runCli(['events', '--replay', '--json', '--subject', 'meshbus.v1.metrics.shop.>', '--nats-url', nats.url], { cwd });
    await waitFor(() => jsonLines(metrics.output()).length >= 1, { what: 'the summary', timeoutMs: 15_000 });
    expect(jsonLines(metrics.output())[0]).toMatchObject({
      type: 'io.meshbus.v1.metrics.summary',
      natssubject: 'meshbus.v1.metrics.shop.web',
      stream: 'MESHBUS_METRICS',
      data: { namespace: 'shop', workload: 'web', instance: 'web-1' },
    });
    expect(metrics.output()).toContain('following meshbus.v1.metrics.shop.> (MESHBUS_METRICS)');
    expect((await metrics.stop()).code).toBe(0);
  });

  it('replays what the streams keep, narrowed by --subject, in the human format', async () => {
    const cli = runCli(['events', '--replay', '--subject', 'meshbus.v1.state.endpoints.shop.>', '--nats-url', nats.url], { cwd });
    await waitFor(() => cli.output().includes('following'), { what: 'the CLI to catch up', timeoutMs: 15_000 });
    expect(cli.output()).toMatch(/^TIME +SEQ +TYPE +SUBJECT +SUMMARY$/m);
    expect(cli.output()).toMatch(/^\S+Z {2}state:\d+ +endpoints\.snapshot {6}shop\/web\/80 +1 endpoint: 127\.0\.0\.11:8080$/m);
    expect(cli.output()).toContain('following meshbus.v1.state.endpoints.shop.> (MESHBUS_STATE)');
    expect(cli.output()).not.toContain('leader.changed');
    expect((await cli.stop()).code).toBe(0);
  });

  it('reads a compressed endpoint set of 25,000 endpoints like any other', async () => {
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'big', 80), 'shop/big/80', sampleEndpointSet(25_000, 'big'));
    const cli = runCli(['events', '--replay', '--subject', 'meshbus.v1.state.endpoints.shop.big.80', '--nats-url', nats.url], { cwd });
    await waitFor(() => cli.output().includes('shop/big/80'), { what: 'the big set', timeoutMs: 20_000 });
    expect(cli.output()).toMatch(/endpoints\.snapshot {6}shop\/big\/80 +25000 endpoints: 10\.0\.0\.0:8080 .* \+\d+ more$/m);
    expect(cli.output()).not.toContain('malformed');
    expect((await cli.stop()).code).toBe(0);
  });

  it('replays from a time or a sequence, filtered by type, namespace and name', async () => {
    await publisher.publish('certificateIssued', subjects.certificateIssued, 'web.shop.serviceaccount.identity.meshbus.cluster.local', {
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      serial: 'aa01',
      notAfter: '2026-12-02T10:00:00.000Z',
      replica: 'identity-1',
    });
    await new Promise((r) => setTimeout(r, 100));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    const second = await publisher.publish('certificateIssued', subjects.certificateIssued, 'api.shop.serviceaccount.identity.meshbus.cluster.local', {
      identity: 'api.shop.serviceaccount.identity.meshbus.cluster.local',
      serial: 'aa02',
      notAfter: '2026-12-02T10:00:00.000Z',
      replica: 'identity-1',
    });
    await publisher.publish('leaderChanged', subjects.leader('policy'), 'policy', { role: 'policy', holder: 'policy-1', term: 5 });
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'api', 80), 'shop/api/80', { namespace: 'shop', service: 'api', port: 80, endpoints: [] });
    await publisher.publish('endpointSet', subjects.endpoints('other', 'web', 80), 'other/web/80', { namespace: 'other', service: 'web', port: 80, endpoints: [] });

    const caughtUp = (cli: ReturnType<typeof runCli>) => waitFor(() => cli.output().includes('following'), { what: 'the CLI to catch up', timeoutMs: 20_000 });
    // Four readers side by side, each from its own start and with its own filter.
    const byTime = runCli(['events', '--json', '--since', since, '--type', 'io.meshbus.v1.identity.*', '--nats-url', nats.url], { cwd });
    const recent = runCli(['events', '--json', '--since', '10m', '--type', '*.certificate-issued', '--nats-url', nats.url], { cwd });
    const bySeq = runCli(['events', '--json', '--subject', 'meshbus.v1.events.>', '--from-seq', String(second), '--nats-url', nats.url], { cwd });
    const scoped = runCli(['events', '--replay', '--namespace', 'shop', '--name', 'api', '--nats-url', nats.url], { cwd });
    await Promise.all([byTime, recent, bySeq, scoped].map(caughtUp));

    await waitFor(() => jsonLines(byTime.output()).length >= 1, { what: 'the certificate issued since then' });
    await waitFor(() => jsonLines(recent.output()).length >= 2, { what: 'both certificates' });
    await waitFor(() => jsonLines(bySeq.output()).length >= 2, { what: 'the events from that sequence' });
    await waitFor(() => scoped.output().includes('shop/api/80'), { what: 'the shop/api endpoint set' });
    await new Promise((r) => setTimeout(r, 300));

    expect(jsonLines(byTime.output()).map((e) => (e.data as { serial: string }).serial)).toEqual(['aa02']);
    expect(jsonLines(recent.output()).map((e) => (e.data as { serial: string }).serial)).toEqual(['aa01', 'aa02']);
    const fromSeq = jsonLines(bySeq.output());
    expect(fromSeq[0]).toMatchObject({ sequence: second, type: 'io.meshbus.v1.identity.certificate-issued', data: { serial: 'aa02' } });
    expect(fromSeq[1]).toMatchObject({ sequence: second + 1, type: 'io.meshbus.v1.leader.changed' });
    expect(scoped.output()).toMatch(/state:\d+ +endpoints\.snapshot +shop\/api\/80 +no endpoints/);
    expect(scoped.output()).not.toContain('shop/web/80');
    expect(scoped.output()).not.toContain('other/web/80');
    expect(scoped.output()).not.toContain('leader.changed');
    for (const cli of [byTime, recent, bySeq, scoped]) expect((await cli.stop()).code).toBe(0);

    const twoStreams = runCli(['events', '--from-seq', '1', '--nats-url', nats.url], { cwd });
    const typo = runCli(['events', '--type', 'io.meshbus.v1.endpoint.snapshot', '--nats-url', nats.url], { cwd });
    expect((await twoStreams.exited).code).not.toBe(0);
    expect(twoStreams.output()).toContain('--from-seq is a sequence of one stream: add --subject within');
    expect((await typo.exited).code).not.toBe(0);
    expect(typo.output()).toContain('matches no event type');
  });

  it('refuses a subject outside both streams, and an unreachable server, with exit code 1', async () => {
    const bad = runCli(['events', '--subject', 'meshbus.v1.identity.certify', '--nats-url', nats.url], { cwd });
    expect((await bad.exited).code).toBe(1);
    expect(bad.output()).toContain('is in no stream: it must fall within meshbus.v1.state.> (MESHBUS_STATE), meshbus.v1.events.> (MESHBUS_EVENTS) or meshbus.v1.metrics.> (MESHBUS_METRICS)');

    const away = runCli(['events', '--nats-url', 'nats://127.0.0.1:1'], { cwd });
    expect((await away.exited).code).toBe(1);
    expect(away.output()).toMatch(/meshbus: cannot reach NATS at nats:\/\/127\.0\.0\.1:1 \(127\.0\.0\.1:1: connect ECONNREFUSED/);
  });
});
