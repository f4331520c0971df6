import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { credentials, Server, ServerCredentials, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, decodeEvent, encodeEvent, type BusEvent } from '@meshbus/bus';
import { busValidator, subjects, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { identityName } from '@meshbus/core';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { natsInboxPrefix, Registry, silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { createTapService, tapServiceDefinition, type TapService } from './tap-server.js';
import type { ReportTrust } from './telemetry-auth.js';

const HOUR = 3_600_000;
const validator = busValidator();
const identityOf = (serviceAccount: string) => identityName({ serviceAccount, namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });

function newMesh(name: string) {
  const now = Date.now();
  const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
  const anchor = createTrustAnchor({ commonName: `root.${name}`, validity });
  const issuer = createIssuer({ anchor, commonName: `issuer.${name}`, validity });
  const ca = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
  return {
    anchor: new X509Certificate(anchor.certificatePem),
    async leaf(identity: string): Promise<{ chain: Buffer[]; key: KeyObject }> {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const issued = await ca.issue({ identity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] }) });
      return { chain: [Buffer.from(issued.leafDer), ...issued.intermediatesDer.map((d) => Buffer.from(d))], key: privateKey };
    },
  };
}

function hello(chain: Buffer[], key: KeyObject, signedAtMs = Date.now()): tap.ProxyMessage {
  const claim = Buffer.from(tap.HelloClaim.encode({ signedAtMs: BigInt(signedAtMs), instance: 'web-7f9c' }).finish());
  return { kind: { $case: 'hello', hello: { claim, certificateChain: chain, signature: sign('sha256', Buffer.concat([tapHelloSignaturePrefix, claim]), key) } } };
}

function record(sessionId: string, path = '/api/cart'): tap.ProxyMessage {
  return {
    kind: {
      $case: 'record',
      record: {
        sessionId,
        startedAtMs: BigInt(Date.now()),
        direction: tap.TapDirection.INBOUND,
        method: 'GET',
        authority: 'web.shop.svc.cluster.local:80',
        path,
        status: 200,
        latencyMs: 12,
        tls: true,
        peerIdentity: identityOf('front'),
        headers: { 'content-type': 'application/json' },
      },
    },
  };
}

/** A Watch stream playing the proxy: every command it receives, and how it ended. */
interface Watcher {
  call: ClientDuplexStream<tap.ProxyMessage, tap.GatewayCommand>;
  commands: tap.GatewayCommand[];
  ended: Promise<ServiceError | null>;
}

describe('Tap/Watch on the gateway', () => {
  let nats: NatsCluster;
  let server: Server;
  let client: tap.TapClient;
  let service: TapService;
  let tapNc: NatsConnection;
  let readerNc: NatsConnection;
  const registry = new Registry();
  const mesh = newMesh('mesh.test');
  const closers: (() => Promise<void>)[] = [];
  const watchers: Watcher[] = [];

  beforeAll(async () => {
    const users = [
      { user: 'gateway', password: 'g', role: 'gateway' as const },
      { user: 'reader', password: 'r', role: 'reader' as const },
      { user: 'tap', password: 't', role: 'tap' as const },
    ];
    nats = await startNats({ authorization: natsAuthorizationConfig(users) });
    const logger = silentLogger();
    const login = (role: 'gateway' | 'reader' | 'tap') => ({ servers: [nats.url], user: role, password: users.find((u) => u.role === role)!.password, inboxPrefix: natsInboxPrefix(role) });
    const gatewayNc = await connectBus({ ...login('gateway'), name: 'gateway' }, logger);
    tapNc = await connectBus({ ...login('tap'), name: 'tap' }, logger);
    readerNc = await connectBus({ ...login('reader'), name: 'reader' }, logger);
    closers.push(() => gatewayNc.close(), () => tapNc.close(), () => readerNc.close());

    const trust: ReportTrust = { trustDomain: 'cluster.local', anchors: [mesh.anchor] };
    service = createTapService({ nc: gatewayNc, validator, trust: () => trust, source: '/meshbus/gateway/test', logger, registry, expiryCheckMs: 100 });
    await gatewayNc.flush();
    server = new Server();
    server.addService(tapServiceDefinition, service.handlers);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new tap.TapClient(`127.0.0.1:${port}`, credentials.createInsecure());
  }, 30_000);

  afterAll(async () => {
    for (const w of watchers) w.call.cancel();
    client?.close();
    service?.close();
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    for (const close of closers) await close();
    await nats?.stop();
  });

  function watch(first: tap.ProxyMessage): Watcher {
    const call = client.watch();
    const commands: tap.GatewayCommand[] = [];
    call.on('data', (c: tap.GatewayCommand) => commands.push(c));
    const ended = new Promise<ServiceError | null>((resolve) => {
      call.on('error', (e: ServiceError) => resolve(e));
      call.on('end', () => resolve(null));
    });
    call.write(first);
    const w = { call, commands, ended };
    watchers.push(w);
    return w;
  }

  async function watchAs(serviceAccount: string): Promise<Watcher> {
    const { chain, key } = await mesh.leaf(identityOf(serviceAccount));
    const w = watch(hello(chain, key));
    return w;
  }

  async function requestTap(request: TapRequest): Promise<void> {
    const subject = subjects.tapRequest(request.namespace, request.workload);
    const encoded = encodeEvent('tapRequest', subject, request, { source: '/meshbus/cli/test', subject: `${request.namespace}/${request.workload}` }, validator);
    tapNc.publish(subject, encoded.payload, { headers: encoded.headers });
    await tapNc.flush();
  }

  function collect(nc: NatsConnection, subject: string): BusEvent[] {
    const got: BusEvent[] = [];
    nc.subscribe(subject, { callback: (err, msg) => void (err || got.push(decodeEvent(msg.subject, msg.headers, msg.data, validator))) });
    return got;
  }

  it('sends start to the proxy of the tapped workload, publishes its records for the tap login only, and stops at expiry', async () => {
    const web = await watchAs('web');
    const api = await watchAs('api');
    await waitFor(() => service.router.proxyCount === 2, { what: 'both proxies connected' });
    const sessionId = 'session-web-0001';
    const tapped = collect(tapNc, subjects.tapEvents(sessionId));
    const seenByReader = collect(readerNc, 'meshbus.v1.tap.events.>');
    await Promise.all([tapNc.flush(), readerNc.flush()]);

    await requestTap({ sessionId, action: 'start', namespace: 'shop', workload: 'web', filter: { path: '/api/' }, maxRps: 50, expiresInMs: 1500 });
    await waitFor(() => web.commands.length >= 1, { what: 'start on the web proxy' });
    expect(web.commands[0]).toEqual({ kind: { $case: 'start', start: { sessionId, filter: { path: '/api/', method: '', authority: '' }, maxRps: 50, expiresInMs: expect.any(Number) } } });

    web.call.write(record(sessionId, '/api/cart'));
    web.call.write(record(sessionId, '/api/items'));
    // A record for the session from a proxy it does not target is dropped.
    api.call.write(record(sessionId, '/api/forged'));
    await waitFor(() => tapped.length >= 2, { what: 'two records on the events subject' });
    const data = tapped.map((e) => e.data as TapEvent);
    expect(data.map((d) => d.path)).toEqual(['/api/cart', '/api/items']);
    expect(data[0]).toMatchObject({ sessionId, namespace: 'shop', workload: 'web', identity: identityOf('web'), instance: 'web-7f9c', direction: 'inbound', status: 200, tls: true });
    expect(tapped[0]!.type).toBe('io.meshbus.v1.tap.event');

    // No renewal: the gateway ends the session itself.
    await waitFor(() => web.commands.some((c) => c.kind?.$case === 'stop'), { what: 'stop after expiry', timeoutMs: 5000 });
    expect(web.commands.at(-1)).toEqual({ kind: { $case: 'stop', stop: { sessionId } } });
    expect(api.commands).toEqual([]);
    expect(seenByReader).toEqual([]);
    expect(tapped.map((e) => (e.data as TapEvent).path)).not.toContain('/api/forged');

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/meshbus_gateway_tap_records_total\{result="published"\} 2/);
    expect(metrics).toMatch(/meshbus_gateway_tap_records_total\{result="no_session"\} 1/);
    expect(metrics).toMatch(/meshbus_gateway_tap_sessions 0/);
  });

  it('ignores and counts a malformed request, and keeps serving', async () => {
    tapNc.publish(subjects.tapRequest('shop', 'web'), new TextEncoder().encode('{"not":"an event"}'));
    await requestTap({ sessionId: 'session-web-0002', action: 'start', namespace: 'shop', workload: 'web', filter: {}, maxRps: 5, expiresInMs: 30_000 });
    // Valid data, but for another workload than the subject names.
    const wrong: TapRequest = { sessionId: 'session-api-0009', action: 'start', namespace: 'shop', workload: 'api', filter: {}, maxRps: 5, expiresInMs: 30_000 };
    const encoded = encodeEvent('tapRequest', subjects.tapRequest('shop', 'web'), wrong, { source: '/meshbus/cli/test', subject: 'shop/api' }, validator);
    tapNc.publish(subjects.tapRequest('shop', 'web'), encoded.payload, { headers: encoded.headers });
    await requestTap({ sessionId: 'session-web-0002', action: 'start', namespace: 'shop', workload: 'web', filter: {}, maxRps: 5, expiresInMs: 30_000 });
    // The first valid start already makes one session: wait until the one for another workload was counted too.
    await waitFor(async () => service.router.sessionCount === 1 && /meshbus_gateway_tap_requests_total\{result="malformed_subject"\} 1/.test(await registry.metrics()), {
      what: 'the valid request after the malformed ones',
    });
    expect(service.router.session('session-api-0009')).toBeUndefined();
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/meshbus_gateway_tap_requests_total\{result="malformed_missing-header"\} 1/);
    expect(metrics).toMatch(/meshbus_gateway_tap_requests_total\{result="malformed_subject"\} 1/);
    await requestTap({ sessionId: 'session-web-0002', action: 'stop', namespace: 'shop', workload: 'web', filter: {}, maxRps: 5, expiresInMs: 30_000 });
    await waitFor(() => service.router.sessionCount === 0, { what: 'stopped' });
  });

  it('the reader login may not subscribe to tapped records', async () => {
    const errors: string[] = [];
    const reader = readerNc;
    const sub = reader.subscribe('meshbus.v1.tap.events.session-web-0001');
    void (async () => {
      try {
        for await (const _ of sub) void _;
      } catch (e) {
        errors.push(String(e));
      }
    })();
    await waitFor(() => errors.length > 0, { what: 'a permissions violation for the reader' });
    expect(errors[0]).toMatch(/permission/i);
  });

  it('ends a stream whose first message is not a valid hello', async () => {
    const noHello = watch(record('session-web-0001'));
    expect((await noHello.ended)?.code).toBe(status.INVALID_ARGUMENT);
    const { chain } = await mesh.leaf(identityOf('web'));
    const forged = watch(hello(chain, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
    const error = await forged.ended;
    expect(error?.code).toBe(status.PERMISSION_DENIED);
    expect(error?.details).toMatch(/signature does not verify/);
    const { chain: c2, key } = await mesh.leaf(identityOf('web'));
    const stale = watch(hello(c2, key, Date.now() - HOUR));
    expect((await stale.ended)?.details).toMatch(/too far from the gateway's clock/);
  });
});
