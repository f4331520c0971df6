import { verify, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { createTestMesh } from '../tls/test-fixtures.js';
import { signHello } from './client.js';

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
