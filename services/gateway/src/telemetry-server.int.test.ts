import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JetStreamManager } from 'nats';
import { connectBus, ensureStreams, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator, streams, subjects, type MetricsSummary } from '@meshbus/bus-schemas';
import { identityName } from '@meshbus/core';
import { telemetry, telemetryLatencyBoundsMs, telemetrySignaturePrefix } from '@meshbus/proxy-api';
import { natsInboxPrefix, silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { createTelemetryHandlers, telemetryServiceDefinition } from './telemetry-server.js';
import type { ReportTrust } from './telemetry-auth.js';

const HOUR = 3_600_000;
const validator = busValidator();
const webIdentity = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });

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

function summaryBytes(patch: Partial<telemetry.MetricsSummary> = {}): Buffer {
  const latencyBuckets = new Array<bigint>(telemetryLatencyBoundsMs.length + 1).fill(0n);
  latencyBuckets[3] = 7n;
  return Buffer.from(
    telemetry.MetricsSummary.encode({
      intervalStartMs: BigInt(Date.now() - 10_000),
      intervalMs: 10_000,
      instance: 'web-7f9c',
      requests: [{ direction: telemetry.Direction.INBOUND, authority: 'web.shop.svc.cluster.local:80', route: '', statusClass: 2, tls: true, success: 6n, failure: 1n, latencyBuckets }],
      tcp: [{ direction: telemetry.Direction.INBOUND, authority: '', opened: 2n, closed: 1n, open: 1n, readBytes: 300n, writeBytes: 900n }],
      ...patch,
    }).finish(),
  );
}

function signed(summary: Buffer, chain: Buffer[], key: KeyObject): telemetry.SignedReport {
  return { summary, certificateChain: chain, signature: sign('sha256', Buffer.concat([telemetrySignaturePrefix, summary]), key) };
}

describe('Telemetry/Report on the gateway', () => {
  let nats: NatsCluster;
  let server: Server;
  let client: telemetry.TelemetryClient;
  const mesh = newMesh('mesh.test');
  const stranger = newMesh('other.test');
  const received: BusEvent[] = [];
  let readerJsm: JetStreamManager;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const users = [
      { user: 'gateway', password: 'g', role: 'gateway' as const },
      { user: 'reader', password: 'r', role: 'reader' as const },
      { user: 'destination', password: 'd', role: 'destination' as const },
    ];
    nats = await startNats({ authorization: natsAuthorizationConfig(users) });
    const logger = silentLogger();
    const login = (role: 'gateway' | 'reader' | 'destination') => ({ servers: [nats.url], user: role, password: users.find((u) => u.role === role)!.password, inboxPrefix: natsInboxPrefix(role) });
    const writer = await connectBus({ ...login('destination'), name: 'streams' }, logger);
    await ensureStreams(await writer.jetstreamManager(), { replicas: 1, logger });
    await writer.close();
    const gatewayNc = await connectBus({ ...login('gateway'), name: 'gateway' }, logger);
    const readerNc = await connectBus({ ...login('reader'), name: 'reader' }, logger);
    closers.push(() => gatewayNc.close(), () => readerNc.close());
    readerJsm = await readerNc.jetstreamManager();
    const reader = new StreamReader({ nc: readerNc, stream: streams.metrics.name, filter: subjects.metricsOf(), from: 'new', validator, logger, onEvent: (e) => received.push(e) });
    await reader.start();
    closers.unshift(() => reader.stop());

    const trust: ReportTrust = { trustDomain: 'cluster.local', anchors: [mesh.anchor] };
    server = new Server();
    server.addService(telemetryServiceDefinition, createTelemetryHandlers({ nc: gatewayNc, validator, trust: () => trust, source: '/meshbus/gateway/test', logger }));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new telemetry.TelemetryClient(`127.0.0.1:${port}`, credentials.createInsecure());
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    for (const close of closers) await close();
    await nats?.stop();
  });

  function report(reports: telemetry.SignedReport[]): Promise<{ error: ServiceError | null; accepted?: bigint }> {
    return new Promise((resolve) => {
      const call = client.report((error, ack) => resolve({ error, ...(ack ? { accepted: ack.accepted } : {}) }));
      for (const r of reports) call.write(r);
      call.end();
    });
  }

  it('publishes a signed report under the identity its certificate proves', async () => {
    const { chain, key } = await mesh.leaf(webIdentity);
    const before = received.length;
    const result = await report([signed(summaryBytes(), chain, key), signed(summaryBytes(), chain, key)]);
    expect(result.error).toBeNull();
    expect(result.accepted).toBe(2n);
    await waitFor(() => received.length >= before + 2, { what: 'two summaries on the bus' });
    const event = received[before]!;
    expect(event.natsSubject).toBe('meshbus.v1.metrics.shop.web');
    expect(event.subject).toBe(webIdentity);
    expect(event.type).toBe('io.meshbus.v1.metrics.summary');
    const data = event.data as MetricsSummary;
    expect(data).toMatchObject({ namespace: 'shop', workload: 'web', identity: webIdentity, instance: 'web-7f9c', intervalMs: 10_000, latencyBoundsMs: [...telemetryLatencyBoundsMs] });
    expect(data.requests).toEqual([
      { direction: 'inbound', authority: 'web.shop.svc.cluster.local:80', route: '', statusClass: 2, tls: true, success: 6, failure: 1, latency: expect.arrayContaining([7]) },
    ]);
    expect(data.tcp).toEqual([{ direction: 'inbound', authority: '', opened: 2, closed: 1, open: 1, readBytes: 300, writeBytes: 900 }]);
    // Stored in MESHBUS_METRICS, and nothing in the events stream.
    expect((await readerJsm.streams.info(streams.metrics.name)).state.messages).toBeGreaterThanOrEqual(2);
    expect((await readerJsm.streams.info(streams.events.name)).state.messages).toBe(0);
  });

  it('refuses a report signed with another key than the certificate names, and publishes nothing', async () => {
    const { chain } = await mesh.leaf(webIdentity);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const before = received.length;
    const result = await report([signed(summaryBytes(), chain, other)]);
    expect(result.error?.code).toBe(status.PERMISSION_DENIED);
    expect(result.error?.details).toMatch(/signature does not verify/);
    await new Promise((r) => setTimeout(r, 300));
    expect(received.length).toBe(before);
  });

  it('refuses a certificate of another mesh', async () => {
    const { chain, key } = await stranger.leaf(webIdentity);
    const result = await report([signed(summaryBytes(), chain, key)]);
    expect(result.error?.code).toBe(status.PERMISSION_DENIED);
    expect(result.error?.details).toMatch(/does not lead to the mesh trust anchors/);
  });

  it('refuses a report replayed long after its interval, and one of the wrong shape', async () => {
    const { chain, key } = await mesh.leaf(webIdentity);
    const old = await report([signed(summaryBytes({ intervalStartMs: BigInt(Date.now() - 2 * HOUR) }), chain, key)]);
    expect(old.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(old.error?.details).toMatch(/too far from the gateway's clock/);
    const shape = await report([
      signed(summaryBytes({ requests: [{ direction: telemetry.Direction.OUTBOUND, authority: '', route: '', statusClass: 2, tls: false, success: 1n, failure: 0n, latencyBuckets: [1n] }] }), chain, key),
    ]);
    expect(shape.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(shape.error?.details).toMatch(/latency_buckets has 1 counts/);
  });
});
