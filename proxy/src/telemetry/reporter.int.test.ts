import { verify, X509Certificate } from 'node:crypto';
import { credentials, Server, ServerCredentials, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { telemetry, telemetrySignaturePrefix } from '@meshbus/proxy-api';
import { freePort, waitFor } from '@meshbus/testing';
import { ProxyMetrics, type OutboundLabels } from '../metrics/index.js';
import { createTestMesh } from '../tls/test-fixtures.js';
import { TelemetryReporter } from './reporter.js';
import { TrafficSummarizer } from './summarizer.js';

const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const outbound: OutboundLabels = { direction: 'outbound', targetAddr: '10.0.0.7:80', tls: { established: true }, authority: 'api.shop.svc.cluster.local:80' };

/** A gateway stand-in on a real gRPC server: it keeps every report it is sent. */
async function recordingGateway(port: number): Promise<{ reports: telemetry.SignedReport[]; stop(): Promise<void> }> {
  const reports: telemetry.SignedReport[] = [];
  const server = new Server();
  server.addService(telemetry.TelemetryService, {
    report(call: ServerReadableStream<telemetry.SignedReport, telemetry.ReportAck>, callback: sendUnaryData<telemetry.ReportAck>) {
      call.on('data', (r: telemetry.SignedReport) => reports.push(r));
      call.on('end', () => callback(null, { accepted: BigInt(reports.length) }));
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { reports, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

describe('TelemetryReporter', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('signs each interval with the mesh certificate and keeps reports while no gateway answers', async () => {
    const certificate = await createTestMesh().certify(identity);
    const port = await freePort();
    const summarizer = new TrafficSummarizer();
    const metrics = new ProxyMetrics(new Registry(), { sink: summarizer });
    const reporter = new TelemetryReporter({
      gateways: [`127.0.0.1:${port}`],
      credentials: credentials.createInsecure(),
      summarizer,
      beforeDrain: () => metrics.flushConnectionBytes(),
      certificate: () => certificate,
      instance: 'web-1',
      intervalMs: 60_000,
      maxQueued: 2,
    });
    cleanups.push(() => reporter.close(200));

    // Nothing listens yet: the reports wait, at most two of them.
    for (let i = 0; i < 3; i++) {
      const r = metrics.startRequest(outbound);
      r.respond(i === 0 ? 500 : 200);
      r.end();
      reporter.tick();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reporter.sent).toBe(0);
    expect(reporter.queued).toBe(2);

    const gateway = await recordingGateway(port);
    cleanups.push(() => gateway.stop());
    // The reporter tries again on its own, without waiting for the next interval.
    await waitFor(() => gateway.reports.length >= 2, { what: 'the queued reports at the gateway', timeoutMs: 15_000, intervalMs: 100 });
    expect(reporter.queued).toBe(0);
    const [first] = gateway.reports;
    const leaf = new X509Certificate(first!.certificateChain[0]!);
    expect(leaf.subjectAltName).toBe(`DNS:${identity}`);
    expect(first!.certificateChain.length).toBeGreaterThanOrEqual(2);
    expect(verify('sha256', Buffer.concat([telemetrySignaturePrefix, first!.summary]), leaf.publicKey, first!.signature)).toBe(true);
    // The oldest report (with the 500) was dropped; the two kept have one success each.
    const summaries = gateway.reports.slice(0, 2).map((r) => telemetry.MetricsSummary.decode(r.summary));
    expect(summaries.map((s) => s.requests.map((r) => [r.statusClass, r.success, r.failure]))).toEqual([[[2, 1n, 0n]], [[2, 1n, 0n]]]);
    expect(summaries[0]!.instance).toBe('web-1');
  }, 30_000);
});
