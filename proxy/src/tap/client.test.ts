import { verify, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { createTestMesh } from '../tls/test-fixtures.js';
import { credentials } from '@grpc/grpc-js';
import { Registry } from '@meshbus/runtime';
import { signHello, TapClient } from './client.js';
import type { TapRequestRecord } from './record.js';

const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

describe('signHello', () => {
  it('signs a claim of the time given with the leaf key, distinct from a telemetry signature, chain leaf first', async () => {
    const certificate = await createTestMesh().certify(identity);
    const message = signHello(certificate, 'web-1', 1_700_000_000_123);
    if (message.kind?.$case !== 'hello') throw new Error('not a hello');
    const { claim, certificateChain, signature } = message.kind.hello;
    expect(tap.HelloClaim.decode(claim)).toEqual({ signedAtMs: 1_700_000_000_123n, instance: 'web-1' });
    const leaf = new X509Certificate(certificateChain[0]!);
    expect(leaf.subjectAltName).toBe(`DNS:${identity}`);
    expect(certificateChain.length).toBeGreaterThanOrEqual(2);
    expect(verify('sha256', Buffer.concat([tapHelloSignaturePrefix, claim]), leaf.publicKey, signature)).toBe(true);
    expect(verify('sha256', claim, leaf.publicKey, signature)).toBe(false);
    // Each stream's hello is signed anew: another time, another claim.
    const later = signHello(certificate, 'web-1', 1_700_000_060_000);
    if (later.kind?.$case !== 'hello') throw new Error('not a hello');
    expect(tap.HelloClaim.decode(later.kind.hello.claim).signedAtMs).toBe(1_700_000_060_000n);
    expect(Buffer.from(later.kind.hello.claim).equals(Buffer.from(claim))).toBe(false);
  });
});

describe('TapClient.record', () => {
  const request: TapRequestRecord = { direction: 'outbound', method: 'GET', authority: 'api.shop:80', path: '/', startedAtMs: 0, status: 200, latencyMs: 1, tls: false, requestHeaders: {} };

  it('does nothing without a session, and drops (never queues) records while no stream can take them', async () => {
    let t = 0;
    const registry = new Registry();
    // Never started: no stream, no channel.
    const client = new TapClient({ gateways: ['127.0.0.1:1'], credentials: credentials.createInsecure(), certificate: () => undefined, instance: 'web-1', registry, now: () => t });
    client.record(request);
    expect(await registry.metrics()).not.toMatch(/meshbus_proxy_tap_records_total\{/);
    expect(client.tapping).toBe(false);

    client.sessions.start({ sessionId: 'session-0001', filter: {}, maxRps: 1, expiresInMs: 5_000 });
    expect(client.tapping).toBe(true);
    client.record(request);
    client.record(request);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/meshbus_proxy_tap_records_total\{result="dropped"\} 1/);
    expect(metrics).toMatch(/meshbus_proxy_tap_records_total\{result="rate_limited"\} 1/);
    expect(metrics).toMatch(/meshbus_proxy_tap_sessions 1/);
    t += 5_000;
    expect(client.tapping).toBe(false);
    expect(await registry.metrics()).toMatch(/meshbus_proxy_tap_sessions 0/);
    client.close();
  });
});
