import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destination } from '@meshbus/proxy-api';
import { waitFor } from '@meshbus/testing';
import { jsonLines, runCli } from './cli-process.js';

type GetCall = ServerWritableStream<destination.GetDestination, destination.Update>;

function addr(last: number, port = 8080): { ip: { ip: { $case: 'ipv4'; ipv4: number } }; port: number } {
  return { ip: { ip: { $case: 'ipv4', ipv4: ((127 << 24) | last) >>> 0 } }, port };
}

const add = (...lasts: number[]): destination.Update => ({
  update: {
    $case: 'add',
    add: {
      addrs: lasts.map((last) => ({
        addr: addr(last),
        weight: 10_000,
        metricLabels: { pod: `web-${last}`, zone: 'zone-a' },
        tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' } } },
        protocolHint: { protocol: { $case: 'h2', h2: {} } },
      })),
      metricLabels: { service: 'web' },
    },
  },
});
const remove = (...lasts: number[]): destination.Update => ({ update: { $case: 'remove', remove: { addrs: lasts.map((l) => addr(l)) } } });

/** A Destination server whose streams the test drives: each call gets `first`, then whatever the test writes. */
describe('meshbus endpoints against a gRPC Destination server', () => {
  const server = new Server();
  let gateway = '';
  let cwd = '';
  let calls: GetCall[] = [];
  let respond: (call: GetCall) => void = () => undefined;

  beforeAll(async () => {
    server.addService(destination.DestinationService, {
      get: (call: GetCall) => {
        calls.push(call);
        respond(call);
      },
      getProfile: (call: ServerWritableStream<destination.GetDestination, destination.DestinationProfile>) => call.end(),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    gateway = `127.0.0.1:${port}`;
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-endpoints-'));
  });
  beforeEach(() => {
    calls = [];
    respond = (call) => call.write(add(11, 12));
  });
  afterAll(async () => {
    server.forceShutdown();
    await rm(cwd, { recursive: true, force: true });
  });

  it('prints the endpoint set after the first update and exits', async () => {
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', gateway], { cwd });
    expect((await cli.exited).code).toBe(0);
    expect(calls.map((c) => c.request)).toEqual([{ scheme: 'k8s', path: 'web.shop.svc.cluster.local:80', contextToken: '' }]);
    expect(cli.output()).toBe(
      [
        `web.shop.svc.cluster.local:80 via ${gateway}: 2 endpoints (labels service=web)`,
        'ADDRESS          WEIGHT  IDENTITY                                                HINT  ZONE    LABELS',
        '127.0.0.11:8080  10000   web.shop.serviceaccount.identity.meshbus.cluster.local  h2    zone-a  pod=web-11',
        '127.0.0.12:8080  10000   web.shop.serviceaccount.identity.meshbus.cluster.local  h2    zone-a  pod=web-12',
        '',
      ].join('\n'),
    );
  });

  it('uses the cluster domain given and prints JSON', async () => {
    const cli = runCli(['endpoints', 'web.shop:8080', '--gateway', gateway, '--cluster-domain', 'example.org', '--json'], { cwd });
    expect((await cli.exited).code).toBe(0);
    expect(calls[0]!.request.path).toBe('web.shop.svc.example.org:8080');
    const [set] = jsonLines(cli.output());
    expect(set).toMatchObject({ path: 'web.shop.svc.example.org:8080', gateway, exists: true, labels: { service: 'web' } });
    expect((set!.endpoints as { address: string }[]).map((e) => e.address)).toEqual(['127.0.0.11:8080', '127.0.0.12:8080']);
  });

  it('follows adds and removes with --watch --json, one line per update, until SIGTERM', async () => {
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', gateway, '--watch', '--json'], { cwd });
    await waitFor(() => jsonLines(cli.output()).length === 1, { what: 'the snapshot', timeoutMs: 15_000 });
    const call = calls[0]!;
    call.write(remove(11));
    call.write(add(13));
    call.write({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
    await waitFor(() => jsonLines(cli.output()).length === 4, { what: 'three updates' });
    const [snapshot, removed, added, none] = jsonLines(cli.output());
    expect(snapshot).toMatchObject({ update: 'snapshot', path: 'web.shop.svc.cluster.local:80' });
    expect(removed).toMatchObject({ update: 'remove', addresses: ['127.0.0.11:8080'], size: 1 });
    expect(added).toMatchObject({ update: 'add', endpoints: [{ address: '127.0.0.13:8080', weight: 10000, zone: 'zone-a', protocolHint: 'h2' }], size: 2 });
    expect(none).toMatchObject({ update: 'noEndpoints', exists: true, addresses: ['127.0.0.12:8080', '127.0.0.13:8080'], size: 0 });
    for (const line of [removed, added, none]) expect(Date.parse(line!.time as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it('reconnects when the stream ends and prints what changed meanwhile', async () => {
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', gateway, '--watch'], { cwd });
    await waitFor(() => cli.output().includes('watching for changes'), { what: 'the table', timeoutMs: 15_000 });
    respond = (call) => call.write(add(12, 14));
    calls[0]!.end();
    await waitFor(() => cli.output().includes('+ 127.0.0.14:8080'), { what: 'the difference after reconnecting' });
    expect(cli.output()).toContain(`stream interrupted: gateway ${gateway} ended the stream; reconnecting to ${gateway}`);
    expect(cli.output()).toMatch(/Z {2}- 127\.0\.0\.11:8080 {2}\[1 endpoint\]/);
    expect(cli.output()).toMatch(/Z {2}\+ 127\.0\.0\.14:8080 {2}weight=10000 identity=web\.shop\.serviceaccount\.identity\.meshbus\.cluster\.local hint=h2 zone=zone-a labels=pod=web-14 {2}\[2 endpoints\]/);
    expect(calls).toHaveLength(2);
    expect((await cli.stop()).code).toBe(0);
  });

  it('prints a gRPC error with its code and message', async () => {
    respond = (call) => call.emit('error', { code: status.INVALID_ARGUMENT, details: 'not a known destination' });
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', gateway], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain(`meshbus: gateway ${gateway}: INVALID_ARGUMENT (3): not a known destination`);
  });

  it('says when the gateway is not there', async () => {
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', '127.0.0.1:1'], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toMatch(/meshbus: gateway 127\.0\.0\.1:1: UNAVAILABLE \(14\): .*ECONNREFUSED.*is the gateway running\?/);
  });

  it('gives up when no update comes in time', async () => {
    respond = () => undefined;
    const cli = runCli(['endpoints', 'web.shop:80', '--gateway', gateway, '--timeout', '300ms'], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain('DEADLINE_EXCEEDED (4): no update within 0.3s');
  });
});
