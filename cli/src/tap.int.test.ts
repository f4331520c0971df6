import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectBus, decodeEvent, encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { jsonLines, runCli } from './cli-process.js';

type Connection = Awaited<ReturnType<typeof connectBus>>;

const validator = busValidator();
const tap = { user: 'tap', password: 'tap-pw' };
const reader = { user: 'reader', password: 'reader-pw' };
const gateway = { user: 'gateway', password: 'gateway-pw' };

function record(sessionId: string, path: string, overrides: Partial<TapEvent> = {}): TapEvent {
  return {
    sessionId,
    namespace: 'shop',
    workload: 'web',
    identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    instance: 'web-1',
    startedAt: '2026-12-01T10:00:01.250Z',
    direction: 'inbound',
    method: 'GET',
    authority: 'web.shop.svc.cluster.local:80',
    path,
    status: 200,
    latencyMs: 12,
    tls: true,
    peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
    headers: { 'x-request-id': 'r-1' },
    ...overrides,
  };
}

// A real nats-server with the meshbus logins, a `meshbus dev` state file that
// names the tap login, and a responder standing in for the gateway (with the
// gateway's login): it records every tap request and answers the first start
// of a session of shop/web with records on the session's subject.
describe('meshbus tap against a real nats-server', () => {
  let nats: NatsCluster;
  let responder: Connection;
  let cwd: string;
  let requests: { subject: string; source: string; data: TapRequest }[] = [];

  beforeAll(async () => {
    nats = await startNats({
      authorization: natsAuthorizationConfig([
        { ...tap, role: 'tap' },
        { ...reader, role: 'reader' },
        { ...gateway, role: 'gateway' },
      ]),
    });
    responder = await connectBus({ servers: [nats.url], name: 'tap-responder', inboxPrefix: '_INBOX_gateway', ...gateway }, silentLogger());
    const answered = new Set<string>();
    responder.subscribe(subjects.allTapRequests, {
      callback: (_err, msg) => {
        const event = decodeEvent(msg.subject, msg.headers, msg.data, validator);
        const data = event.data as TapRequest;
        requests.push({ subject: msg.subject, source: event.source, data });
        if (data.action !== 'start' || data.workload !== 'web' || answered.has(data.sessionId)) return;
        answered.add(data.sessionId);
        const subject = subjects.tapEvents(data.sessionId);
        const publish = (r: TapEvent) => {
          const encoded = encodeEvent('tapEvent', subject, r, { source: '/meshbus/gateway/test', subject: r.identity }, validator);
          responder.publish(subject, encoded.payload, { headers: encoded.headers });
        };
        publish(record(data.sessionId, '/api/cart'));
        responder.publish(subject, new TextEncoder().encode('{"not":"a cloudevent"}'));
        publish(record(data.sessionId, '/api/pay', { direction: 'outbound', method: 'POST', status: 0, tls: false, peerIdentity: '' }));
      },
    });
    await responder.flush();
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-tap-'));
    await mkdir(join(cwd, '.meshbus'));
    await writeFile(
      join(cwd, '.meshbus', 'dev.json'),
      JSON.stringify({ natsUrl: nats.url, gateways: [], admin: {}, pid: process.pid, natsUsers: { reader, workload: { user: 'nobody', password: 'none' }, tap } }),
    );
  });
  beforeEach(() => {
    requests = [];
  });
  afterAll(async () => {
    await responder?.close();
    await nats?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('with the tap login of meshbus dev: starts with the filter, prints records, renews, and stops on SIGTERM', async () => {
    const cli = runCli(['tap', 'shop/web', '--path', '/api/', '--method', 'get', '--authority', 'Web.Shop:80', '--max-rps', '20'], { cwd });
    await waitFor(() => cli.output().includes('/api/pay'), { what: 'both records', timeoutMs: 20_000 });
    const out = cli.output();
    expect(out).toMatch(/^TIME +DIR +METHOD +AUTHORITY +PATH +STATUS +LATENCY +CLIENT → SERVER +TLS$/m);
    expect(out).toMatch(/^10:00:01\.250 {2}in {3}GET +web\.shop\.svc\.cluster\.local:80 {2}\/api\/cart +200 +12ms +shop\/front → shop\/web +tls$/m);
    expect(out).toMatch(/^10:00:01\.250 {2}out {2}POST +web\.shop\.svc\.cluster\.local:80 {2}\/api\/pay +- +12ms +shop\/web → - +plain$/m);
    expect(out).toMatch(/meshbus tap: skipped a malformed message on meshbus\.v1\.tap\.events\.[A-Za-z0-9_-]+: missing-header/);
    const sessionId = /session ([A-Za-z0-9_-]{8,64})\)/.exec(out)?.[1];
    expect(sessionId).toBeDefined();

    await waitFor(() => requests.length >= 2, { what: 'a renewal', timeoutMs: 15_000 });
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
    expect(cli.output()).toContain('tap stopped after 2 records');

    const expected: TapRequest = {
      sessionId: sessionId!,
      action: 'start',
      namespace: 'shop',
      workload: 'web',
      filter: { path: '/api/', method: 'GET', authority: 'Web.Shop:80' },
      maxRps: 20,
      expiresInMs: 15_000,
    };
    expect(requests.map((r) => r.data.action)).toEqual([...requests.slice(0, -1).map(() => 'start'), 'stop']);
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const r of requests.slice(0, -1)) expect(r.data).toEqual(expected);
    expect(requests.at(-1)!.data).toEqual({ ...expected, action: 'stop' });
    for (const r of requests) {
      expect(r.subject).toBe('meshbus.v1.tap.requests.shop.web');
      expect(r.source).toMatch(/^\/meshbus\/cli\/[A-Za-z0-9._-]+$/);
    }
  }, 40_000);

  it('prints JSON lines with --json and stops by itself after --duration, publishing stop', async () => {
    const cli = runCli(['tap', 'shop/web', '--json', '--duration', '2s', '--nats-url', nats.url], { cwd });
    const { code } = await cli.exited;
    expect(code).toBe(0);
    const lines = jsonLines(cli.output());
    expect(lines).toHaveLength(2);
    const sessionId = lines[0]!.sessionId as string;
    expect(lines).toEqual([record(sessionId, '/api/cart'), record(sessionId, '/api/pay', { direction: 'outbound', method: 'POST', status: 0, tls: false, peerIdentity: '' })]);
    expect(cli.output()).not.toMatch(/^TIME/m);
    expect(requests.map((r) => r.data.action)).toEqual(['start', 'stop']);
    expect(requests[0]!.data).toMatchObject({ sessionId, filter: {}, maxRps: 10 });
  });

  it('says on stderr when nothing came after a few seconds, and keeps tapping', async () => {
    const cli = runCli(['tap', 'shop/idle', '--duration', '7s'], { cwd });
    await waitFor(() => cli.output().includes('no record after'), { what: 'the hint', timeoutMs: 15_000 });
    expect(cli.output()).toContain('no record after 5s: either no proxy of shop/idle is connected to a gateway');
    expect((await cli.exited).code).toBe(0);
    expect(requests.at(-1)!.data).toMatchObject({ action: 'stop', workload: 'idle' });
  });

  it('refuses clearly with a login that may not tap', async () => {
    const cli = runCli(['tap', 'shop/web', '--nats-user', reader.user, '--nats-password', reader.password], { cwd });
    const { code } = await cli.exited;
    expect(code).toBe(1);
    expect(cli.output()).toMatch(/meshbus: NATS user reader may not (subscribe to meshbus\.v1\.tap\.events\.|publish to meshbus\.v1\.tap\.requests\.shop\.web).*tap needs the tap login/);
    expect(requests).toEqual([]);
  });

  it.each([
    [['shop'], 'target "shop" must be <namespace>/<workload>'],
    [['shop/Web'], 'must be <namespace>/<workload>'],
    [['shop/web', '--method', 'GET/1'], '--method "GET/1" must be an HTTP method'],
    [['shop/web', '--max-rps', '0'], '--max-rps 0 is out of range (1 to 100'],
    [['shop/web', '--max-rps', '101'], '--max-rps 101 is out of range'],
    [['shop/web', '--duration', 'soon'], '--duration "soon" must be a duration'],
    [['shop/web', '--duration', '100ms'], '--duration 100ms is shorter than'],
    [['shop/web', '--path', 'api'], '--path "api" must be a path prefix starting with /'],
    [['shop/web', '--bogus'], "unknown option '--bogus'"],
    [[], "missing required argument 'target'"],
  ])('exits 2 for bad arguments before asking the bus: %j', async (args, message) => {
    const cli = runCli(['tap', ...args], { cwd });
    expect((await cli.exited).code).toBe(2);
    expect(cli.output()).toContain(message);
    expect(cli.output()).not.toContain('tapping');
    expect(requests).toEqual([]);
  });
});
