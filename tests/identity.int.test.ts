import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateClient } from '@meshbus/identity-client';
import type { IdentityService } from '@meshbus/identity';
import { waitFor } from '@meshbus/testing';
import type { Gateway } from '@meshbus/gateway';
import { repoRoot, startMesh, type Mesh } from './harness.js';

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const webIdentity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

describe('workload certificates through the gateway, with local-mode tokens', () => {
  let mesh: Mesh;
  let dir: string;
  let replicas: IdentityService[] = [];
  let gw: Gateway;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-identity-e2e-'));
    // What a user runs: trust material and the token signing key.
    cli(['identity', 'init', '--dir', join(dir, 'identity')]);
    mesh = await startMesh({ identity: [{ replicaId: 'identity-a' }, { replicaId: 'identity-b' }], gateway: true, identityDir: join(dir, 'identity') });
    replicas = mesh.identities;
    gw = mesh.gateway;
  }, 60_000);
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (identity: string, token: string) =>
    new CertificateClient({
      identity,
      tokenProvider: async () => Buffer.from(token),
      gateways: [`127.0.0.1:${gw.grpcPort}`],
      credentials: credentials.createInsecure(),
      backoff: { initialMs: 50, maxMs: 200 },
    });

  it('issues a leaf that openssl verifies against the trust anchor', async () => {
    await waitFor(() => replicas.every((r) => r.readiness().ready), { what: 'identity replicas ready' });
    const token = cli(['identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'identity', 'token.key')]).trim();
    await using c = client(webIdentity, token);
    const cert = await c.start();
    expect(cert.identity).toBe(webIdentity);
    await writeFile(join(dir, 'leaf.pem'), cert.certificatePem);
    await writeFile(join(dir, 'chain.pem'), cert.chainPem);
    const verify = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'identity', 'ca.crt'), '-untrusted', join(dir, 'chain.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
    expect(verify).toContain('leaf.pem: OK');
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain(`DNS:${webIdentity}`);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    const lifetimeH = (cert.validUntil.getTime() - Date.now()) / 3_600_000;
    expect(lifetimeH).toBeGreaterThan(23.9);
    expect(lifetimeH).toBeLessThan(24.1);
  });

  it('refuses a token for another service account (PERMISSION_DENIED) and a forged token (UNAUTHENTICATED)', async () => {
    const apiToken = cli(['identity', 'token', '--namespace', 'shop', '--service-account', 'api', '--key', join(dir, 'identity', 'token.key')]).trim();
    await using mismatched = client(webIdentity, apiToken);
    await expect(mismatched.start()).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });

    // Signed by a key the identity service does not trust.
    cli(['identity', 'init', '--dir', join(dir, 'other')]);
    const forged = cli(['identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'other', 'token.key')]).trim();
    await using forgedClient = client(webIdentity, forged);
    await expect(forgedClient.start()).rejects.toMatchObject({ grpcCode: status.UNAUTHENTICATED });
  });
});
