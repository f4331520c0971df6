import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { busValidator, streams, subjects, type CertifyResponse, type TrustBundle } from '@meshbus/bus-schemas';
import { decodeEvent, type BusEvent } from '@meshbus/bus';
import { silentLogger } from '@meshbus/runtime';
import { httpGet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createIdentityService } from './composition-root.js';
import type { IdentityService } from './identity-service.js';
import {
  certifyRequest,
  identityOf,
  makeCsr,
  makeIssuer,
  makeTokenKeys,
  makeTrustMaterial,
  pemOfBase64,
  refusalOf,
  requestCertificate,
  workloadToken,
} from './test-fixtures.js';
import { writeTrustMaterial } from '@meshbus/trust';
import type { TrustMaterial } from '@meshbus/trust';

const validator = busValidator();
const web = identityOf('web', 'shop');

type Issued = Extract<CertifyResponse, { certificate: string }>;

describe('identity service replicas on a real nats-server (local mode)', () => {
  let nats: NatsCluster;
  let dir: string;
  let nc: NatsConnection;
  let replicas: IdentityService[];
  const events: BusEvent[] = [];
  const keys = makeTokenKeys();
  const { anchor, issuer } = makeTrustMaterial();
  let token: string;

  const serialOf = (material: TrustMaterial) => new X509Certificate(material.certificatePem).serialNumber.toLowerCase().replace(/^0+/, '');

  async function certify(identity = web, proof = token): Promise<{ response: CertifyResponse; source: string }> {
    const { response, event } = await requestCertificate(nc, certifyRequest(identity, proof, makeCsr(identity).csrDer));
    return { response, source: event.source };
  }

  async function issued(): Promise<Issued> {
    const { response } = await certify();
    const refusal = refusalOf(response);
    if (refusal) throw new Error(`refused: ${refusal.code} ${refusal.message}`);
    return response as Issued;
  }

  function openssl(...args: string[]): string {
    return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** openssl's verdict on a leaf, checked against `ca.crt` with `issuerPem` as the untrusted intermediate. */
  async function verifyLeaf(leaf: Issued, issuerPem: string): Promise<string> {
    await writeFile(join(dir, 'leaf.pem'), pemOfBase64(leaf.certificate));
    await writeFile(join(dir, 'chain.pem'), issuerPem);
    try {
      return openssl('verify', '-CAfile', 'ca.crt', '-untrusted', 'chain.pem', 'leaf.pem');
    } catch (error) {
      return String((error as { stdout?: string }).stdout ?? error);
    }
  }

  function eventsOf(kind: BusEvent['kind']): BusEvent[] {
    return events.filter((e) => e.kind === kind);
  }

  beforeAll(async () => {
    nats = await startNats();
    dir = await mkdtemp(join(tmpdir(), 'meshbus-identity-service-'));
    await writeTrustMaterial(dir, { anchor, issuer });
    await writeFile(join(dir, 'token.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    token = workloadToken(keys.privateKey, 'web', 'shop');

    nc = await connect({ servers: nats.url });
    const sub = nc.subscribe(subjects.allIdentityEvents);
    void (async () => {
      for await (const m of sub) events.push(decodeEvent(m.subject, m.headers, m.data, validator));
    })();

    replicas = ['identity-a', 'identity-b'].map((replicaId) =>
      createIdentityService(
        envToConfig({
          NATS_URL: nats.url,
          MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
          MESHBUS_REPLICA_ID: replicaId,
          MESHBUS_IDENTITY_DIR: dir,
          MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
          MESHBUS_ISSUER_RECHECK_INTERVAL: '1s',
        }),
        { logger: silentLogger() },
      ),
    );
    await Promise.all(replicas.map((r) => r.start()));
  });

  afterAll(async () => {
    for (const r of replicas ?? []) await r[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is ready with an issuer and reports it', async () => {
    for (const r of replicas) {
      expect(await httpGet(`${r.adminUrl}/live`)).toEqual({ status: 200, body: 'live\n' });
      expect(await httpGet(`${r.adminUrl}/ready`)).toEqual({ status: 200, body: 'ready\n' });
    }
    await waitFor(() => eventsOf('issuerUpdated').length === 2, { what: 'issuer-updated from both replicas' });
    for (const e of eventsOf('issuerUpdated')) {
      expect(e.data).toMatchObject({ subject: 'CN=identity.meshbus.test', serial: serialOf(issuer), source: `dir:${dir}` });
      expect(e.data).not.toHaveProperty('previousSerial');
    }
    expect(new Set(eventsOf('issuerUpdated').map((e) => (e.data as { replica: string }).replica))).toEqual(new Set(['identity-a', 'identity-b']));
  });

  it('publishes the trust bundle as state', async () => {
    const jsm = await nc.jetstreamManager();
    const stored = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.trustBundle });
    const event = decodeEvent(stored.subject, stored.header, stored.data, validator);
    expect(event.type).toBe('io.meshbus.v1.trust-bundle.snapshot');
    expect(event.data as TrustBundle).toEqual({ trustDomain: 'cluster.local', anchors: [anchor.certificatePem] });
  });

  it('answers ~40 requests from both replicas of the queue group; openssl verifies the leaves', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => certify()));
    for (const { response } of answers) expect(refusalOf(response)).toBeUndefined();
    const sources = new Set(answers.map((a) => a.source));
    expect(sources).toEqual(new Set(['/meshbus/identity/identity-a', '/meshbus/identity/identity-b']));

    const leaf = answers[0]!.response as Issued;
    expect(await verifyLeaf(leaf, issuer.certificatePem)).toContain('leaf.pem: OK');
    expect(leaf.intermediates.map(pemOfBase64)).toEqual([issuer.certificatePem]);
    const x509 = new X509Certificate(Buffer.from(leaf.certificate, 'base64'));
    expect(x509.subjectAltName).toBe(`DNS:${web}`);
    const hours = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 3_600_000;
    expect(hours).toBeGreaterThan(24);
    expect(hours).toBeLessThan(24.02);

    await waitFor(() => eventsOf('certificateIssued').length >= 40, { what: '40 certificate-issued events' });
    const issuedEvent = eventsOf('certificateIssued').find((e) => (e.data as { serial: string }).serial === leaf.serial)!;
    expect(issuedEvent.data).toMatchObject({ identity: web, notAfter: leaf.validUntil, issuerSerial: serialOf(issuer) });
    expect(issuedEvent.subject).toBe(web);
    const everything = JSON.stringify(events.map((e) => e.data));
    expect(everything).not.toContain(token);
    expect(everything).not.toContain('PRIVATE KEY');
  });

  it('refuses forged tokens, other identities and malformed requests with the right gRPC code', async () => {
    const forged = workloadToken(makeTokenKeys().privateKey, 'web', 'shop');
    expect(refusalOf((await certify(web, forged)).response)).toMatchObject({ grpcCode: 16, code: 'TokenSignatureInvalid' });
    expect(refusalOf((await certify(web, 'not-a-token')).response)).toMatchObject({ grpcCode: 16, code: 'MalformedToken' });
    const db = identityOf('db', 'shop');
    expect(refusalOf((await certify(db, token)).response)).toMatchObject({ grpcCode: 7, code: 'IdentityMismatch' });

    const raw = await nc.request(subjects.certify, new TextEncoder().encode('{"identity":"x"}'), { timeout: 5000 });
    const reply = decodeEvent(raw.subject, raw.headers, raw.data, validator);
    expect(reply.data).toMatchObject({ error: { grpcCode: 3, code: 'MalformedEvent' } });

    const metrics = (await Promise.all(replicas.map((r) => httpGet(`${r.adminUrl}/metrics`)))).map((m) => m.body).join('\n');
    expect(metrics).toMatch(/meshbus_identity_certificates_issued_total\{result="ok",service="identity"\} \d+/);
    expect(metrics).toMatch(/meshbus_identity_certificates_issued_total\{result="IdentityMismatch",service="identity"\} 1/);
    expect(metrics).toMatch(/meshbus_identity_certificates_issued_total\{result="MalformedEvent",service="identity"\} 1/);
    expect(metrics).toMatch(/meshbus_identity_issuer_expiry_seconds\{service="identity"\} \d+/);
    expect(metrics).toMatch(/meshbus_identity_signing_duration_seconds_bucket\{le="0.05",service="identity"\} \d+/);
  });

  it('swaps in a rotated issuer without a restart; the trust bundle stays as it is', async () => {
    const jsm = await nc.jetstreamManager();
    const bundleSeq = (await jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.trustBundle })).seq;
    const next = makeIssuer(anchor);
    await writeTrustMaterial(dir, { anchor: { certificatePem: anchor.certificatePem }, issuer: next, overwrite: true });

    await waitFor(() => replicas.every((r) => r.issuer && Buffer.compare(Buffer.from(r.issuer.issuerCertificateDer), new X509Certificate(next.certificatePem).raw) === 0), {
      what: 'both replicas on the new issuer',
    });
    const rotations = await waitFor(() => {
      const found = eventsOf('issuerUpdated').filter((e) => (e.data as { serial: string }).serial === serialOf(next));
      return found.length === 2 && found;
    });
    for (const e of rotations) expect(e.data).toMatchObject({ subject: 'CN=identity-next.meshbus.test', previousSerial: serialOf(issuer) });

    for (let i = 0; i < 6; i++) {
      const leaf = await issued();
      expect(leaf.intermediates.map(pemOfBase64)).toEqual([next.certificatePem]);
      expect(await verifyLeaf(leaf, next.certificatePem)).toContain('leaf.pem: OK');
    }
    expect((await jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.trustBundle })).seq).toBe(bundleSeq);
    // Kept for the next test, which rotates away from it.
    current = next;
  });

  let current: TrustMaterial = issuer;

  it('refuses an issuer that does not chain to the anchors and keeps serving with the old one', async () => {
    const foreign = makeTrustMaterial().issuer;
    await writeTrustMaterial(dir, { anchor: { certificatePem: anchor.certificatePem }, issuer: foreign, overwrite: true });
    const refusals = await waitFor(() => {
      const found = eventsOf('issuerRefused').filter((e) => (e.data as { code?: string }).code === 'IssuerNotTrusted');
      return found.length >= 2 && found;
    }, { what: 'issuer-refused from both replicas' });
    expect(new Set(refusals.map((e) => (e.data as { replica: string }).replica))).toEqual(new Set(['identity-a', 'identity-b']));
    expect(refusals[0]!.data).toMatchObject({ source: `dir:${dir}` });
    expect((refusals[0]!.data as { reason: string }).reason).toMatch(/not signed by any trust anchor/);

    for (let i = 0; i < 4; i++) {
      const leaf = await issued();
      expect(leaf.intermediates.map(pemOfBase64)).toEqual([current.certificatePem]);
      expect(await verifyLeaf(leaf, current.certificatePem)).toContain('leaf.pem: OK');
    }
    for (const r of replicas) expect((await httpGet(`${r.adminUrl}/ready`)).status).toBe(200);
  });

  it('publishes a new trust bundle when the anchors change', async () => {
    const fresh = makeTrustMaterial();
    const bundle = `${fresh.anchor.certificatePem}${anchor.certificatePem}`;
    await writeTrustMaterial(dir, { anchor: { certificatePem: bundle }, issuer: fresh.issuer, overwrite: true });
    await waitFor(async () => {
      const jsm = await nc.jetstreamManager();
      const stored = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.trustBundle });
      const data = decodeEvent(stored.subject, stored.header, stored.data, validator).data as TrustBundle;
      return data.anchors.length === 2 && data.anchors[0] === fresh.anchor.certificatePem && data.anchors[1] === anchor.certificatePem;
    }, { what: 'the two-anchor trust bundle' });
    await waitFor(() => replicas.every((r) => r.issuer?.trustAnchorsDer.length === 2), { what: 'both replicas on the new anchors' });
    const leaf = await issued();
    expect(leaf.intermediates.map(pemOfBase64)).toEqual([fresh.issuer.certificatePem]);
    expect(await verifyLeaf(leaf, fresh.issuer.certificatePem)).toContain('leaf.pem: OK');
  });

  it('keeps answering from the other replica while one shuts down', async () => {
    const [a, b] = replicas as [IdentityService, IdentityService];
    await a[Symbol.asyncDispose]();
    expect(a.state).toBe('destroyed');
    for (let i = 0; i < 5; i++) expect((await certify()).source).toBe('/meshbus/identity/identity-b');
    expect(b.readiness()).toEqual({ ready: true });
  });
});
