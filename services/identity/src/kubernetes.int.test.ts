import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import { busValidator, subjects, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent, type BusEvent } from '@meshbus/bus';
import { silentLogger } from '@meshbus/runtime';
import { httpGet, startFakeKubeApi, startNats, waitFor, type FakeKubeApi, type NatsCluster } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createIdentityService } from './composition-root.js';
import type { IdentityService } from './identity-service.js';
import {
  certifyRequest,
  identityOf,
  makeCsr,
  makeIssuer,
  makeTrustMaterial,
  pemOfBase64,
  refusalOf,
  requestCertificate,
} from './test-fixtures.js';
import { TokenRejectedError } from '@meshbus/trust';
import { TokenReviewValidator } from '@meshbus/trust/kubernetes';
import type { TrustMaterial } from '@meshbus/trust';

const validator = busValidator();
const web = identityOf('web', 'shop');
const b64 = (text: string) => Buffer.from(text).toString('base64');

type Issued = Extract<CertifyResponse, { certificate: string }>;

function tlsSecret(name: string, anchor: TrustMaterial, issuer: TrustMaterial) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { namespace: 'meshbus', name },
    data: { 'tls.crt': b64(issuer.certificatePem), 'tls.key': b64(issuer.privateKeyPem), 'ca.crt': b64(anchor.certificatePem) },
  };
}

function pemSecret(name: string, issuer: TrustMaterial) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { namespace: 'meshbus', name },
    data: { 'crt.pem': b64(issuer.certificatePem), 'key.pem': b64(issuer.privateKeyPem) },
  };
}

function sameCertificate(der: Uint8Array | undefined, material: TrustMaterial): boolean {
  return der !== undefined && Buffer.compare(Buffer.from(der), new X509Certificate(material.certificatePem).raw) === 0;
}

describe('identity service in cluster mode, against a fake Kubernetes API server', () => {
  let nats: NatsCluster;
  let kube: FakeKubeApi;
  let kubeConfig: KubeConfig;
  let nc: NatsConnection;
  const services: IdentityService[] = [];
  const events: BusEvent[] = [];
  const { anchor, issuer } = makeTrustMaterial();

  function startService(replicaId: string, env: Record<string, string> = {}): Promise<IdentityService> {
    const service = createIdentityService(
      envToConfig({
        NATS_URL: nats.url,
        MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
        MESHBUS_REPLICA_ID: replicaId,
        MESHBUS_IDENTITY_MODE: 'kubernetes',
        MESHBUS_ISSUER_RECHECK_INTERVAL: '1s',
        ...env,
      }),
      { logger: silentLogger(), kubeConfig },
    );
    services.push(service);
    return service.start().then(() => service);
  }

  async function certify(token: string, identity = web): Promise<CertifyResponse> {
    return (await requestCertificate(nc, certifyRequest(identity, token, makeCsr(identity).csrDer))).response;
  }

  async function issuedBy(token: string): Promise<X509Certificate> {
    const response = await certify(token);
    const refusal = refusalOf(response);
    if (refusal) throw new Error(`refused: ${refusal.code} ${refusal.message}`);
    const [issuerDer] = (response as Issued).intermediates;
    return new X509Certificate(pemOfBase64(issuerDer!));
  }

  function eventsOf(kind: BusEvent['kind'], replica: string): BusEvent[] {
    return events.filter((e) => e.kind === kind && (e.data as { replica?: string }).replica === replica);
  }

  beforeAll(async () => {
    [nats, kube] = await Promise.all([startNats(), startFakeKubeApi()]);
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(kube.kubeConfigOptions());
    kube.addServiceAccountToken('web-token', { namespace: 'shop', serviceAccount: 'web', audiences: ['identity.meshbus.io'] });
    kube.addServiceAccountToken('api-audience-token', { namespace: 'shop', serviceAccount: 'web' });
    kube.addServiceAccountToken('db-token', { namespace: 'shop', serviceAccount: 'db', audiences: ['identity.meshbus.io'] });
    nc = await connect({ servers: nats.url });
    const sub = nc.subscribe(subjects.allIdentityEvents);
    void (async () => {
      for await (const m of sub) events.push(decodeEvent(m.subject, m.headers, m.data, validator));
    })();
  });

  afterAll(async () => {
    for (const s of services) await s[Symbol.asyncDispose]();
    await nc?.close();
    await kube?.stop();
    await nats?.stop();
  });

  describe('kubernetes.io/tls Secret, TokenReview', () => {
    let service: IdentityService;

    beforeAll(async () => {
      kube.apply(tlsSecret('meshbus-identity-issuer', anchor, issuer));
      service = await startService('tls-0');
    });

    afterAll(async () => {
      await service[Symbol.asyncDispose]();
    });

    it('loads the issuer with list+watch on the one Secret and signs for a reviewed token', async () => {
      expect(service.readiness()).toEqual({ ready: true });
      expect((await issuedBy('web-token')).subject).toBe('CN=identity.meshbus.test');
      const secretRequests = kube.requests.filter((r) => r.path === '/api/v1/namespaces/meshbus/secrets');
      expect(secretRequests[0]!.query).toMatchObject({ fieldSelector: 'metadata.name=meshbus-identity-issuer' });
      expect(secretRequests.some((r) => r.query.watch === 'true' && r.query.fieldSelector === 'metadata.name=meshbus-identity-issuer')).toBe(true);
      expect(kube.requests.some((r) => r.method === 'POST' && r.path === '/apis/authentication.k8s.io/v1/tokenreviews')).toBe(true);
    });

    it('refuses tokens the API server does not vouch for, for us, as the requested identity', async () => {
      expect(refusalOf(await certify('unknown-token'))).toMatchObject({ grpcCode: 16, code: 'TokenRejected' });
      expect(refusalOf(await certify('api-audience-token'))).toMatchObject({ grpcCode: 16, code: 'TokenRejected' });
      expect(refusalOf(await certify('db-token'))).toMatchObject({ grpcCode: 7, code: 'IdentityMismatch' });
      kube.failRequests(503, /tokenreviews/);
      try {
        expect(refusalOf(await certify('web-token'))).toEqual({
          grpcCode: 14,
          code: 'TokenReviewUnavailable',
          message: 'token review failed: HTTP 503: fake API server answers 503',
        });
      } finally {
        kube.failRequests(undefined);
      }
      expect(refusalOf(await certify('web-token'))).toBeUndefined();
    });

    it('swaps in a rotated Secret, refuses one that does not chain, and survives lost watches', async () => {
      const next = makeIssuer(anchor, 'identity-2.meshbus.test');
      kube.apply(tlsSecret('meshbus-identity-issuer', anchor, next));
      await waitFor(() => sameCertificate(service.issuer?.issuerCertificateDer, next), { what: 'the rotated issuer' });
      expect((await issuedBy('web-token')).subject).toBe('CN=identity-2.meshbus.test');
      await waitFor(() => eventsOf('issuerUpdated', 'tls-0').length === 2);
      expect(eventsOf('issuerUpdated', 'tls-0')[1]!.data).toMatchObject({ source: 'secret:meshbus/meshbus-identity-issuer', subject: 'CN=identity-2.meshbus.test' });

      const foreign = makeTrustMaterial().issuer;
      kube.apply(tlsSecret('meshbus-identity-issuer', anchor, foreign));
      const refused = await waitFor(() => eventsOf('issuerRefused', 'tls-0')[0]);
      expect(refused.data).toMatchObject({ code: 'IssuerNotTrusted', source: 'secret:meshbus/meshbus-identity-issuer' });
      expect((await issuedBy('web-token')).subject).toBe('CN=identity-2.meshbus.test');

      // The watch breaks, the API server is away for a while, and when it is back the client's
      // resourceVersion is no longer served (410 Gone): the client must relist to see the change.
      const seen = kube.requests.length;
      kube.failRequests(503, /secrets/);
      kube.closeWatches();
      const third = makeIssuer(anchor, 'identity-3.meshbus.test');
      kube.apply(tlsSecret('meshbus-identity-issuer', anchor, third));
      kube.compactHistory();
      await new Promise((r) => setTimeout(r, 100));
      expect(sameCertificate(service.issuer?.issuerCertificateDer, third)).toBe(false);
      kube.failRequests(undefined);
      await waitFor(() => sameCertificate(service.issuer?.issuerCertificateDer, third), { what: 'the issuer written after the watch was lost' });
      expect((await issuedBy('web-token')).subject).toBe('CN=identity-3.meshbus.test');
      const relists = kube.requests.slice(seen).filter((r) => r.path === '/api/v1/namespaces/meshbus/secrets' && r.query.watch === undefined);
      expect(relists.length).toBeGreaterThan(0);
    });

    it('keeps serving when the Secret is deleted', async () => {
      const before = service.issuer;
      kube.remove({ apiVersion: 'v1', kind: 'Secret', namespace: 'meshbus', name: 'meshbus-identity-issuer' });
      const refused = await waitFor(() => eventsOf('issuerRefused', 'tls-0').find((e) => (e.data as { code?: string }).code === 'IssuerUnreadable'));
      expect((refused.data as { reason: string }).reason).toBe('Secret meshbus/meshbus-identity-issuer does not exist');
      expect(service.issuer).toBe(before);
      expect((await issuedBy('web-token')).subject).toBe('CN=identity-3.meshbus.test');
      expect((await httpGet(`${service.adminUrl}/ready`)).status).toBe(200);
    });
  });

  describe('crt.pem/key.pem Secret with anchors in a ConfigMap', () => {
    it('waits for the Secret before answering, then follows both objects', async () => {
      const roots = makeTrustMaterial();
      kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'meshbus', name: 'trust-roots' }, data: { 'ca-bundle.crt': roots.anchor.certificatePem } });
      const service = await startService('pem-0', {
        MESHBUS_ISSUER_SECRET: 'meshbus/issuer-pem',
        MESHBUS_TRUST_ANCHORS: 'configmap:meshbus/trust-roots',
      });
      expect(service.issuer).toBeUndefined();
      const notReady = await httpGet(`${service.adminUrl}/ready`);
      expect(notReady.status).toBe(503);
      expect(notReady.body).toContain('no valid issuer loaded from secret:meshbus/issuer-pem');
      await waitFor(() => eventsOf('issuerRefused', 'pem-0').length === 1);
      expect(eventsOf('issuerRefused', 'pem-0')[0]!.data).toMatchObject({ code: 'IssuerUnreadable', reason: 'Secret meshbus/issuer-pem does not exist' });

      kube.apply(pemSecret('issuer-pem', roots.issuer));
      await waitFor(() => service.readiness().ready, { what: 'ready once the Secret exists' });
      expect(sameCertificate(service.issuer?.trustAnchorsDer[0], roots.anchor)).toBe(true);
      // The tls-0 replica above is gone, so this one answers.
      expect((await issuedBy('web-token')).subject).toBe('CN=identity.meshbus.test');

      const newRoots = makeTrustMaterial();
      kube.apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { namespace: 'meshbus', name: 'trust-roots' },
        data: { 'ca-bundle.crt': roots.anchor.certificatePem + newRoots.anchor.certificatePem },
      });
      await waitFor(() => service.issuer?.trustAnchorsDer.length === 2, { what: 'the two-anchor bundle' });
      kube.apply(pemSecret('issuer-pem', newRoots.issuer));
      await waitFor(() => sameCertificate(service.issuer?.issuerCertificateDer, newRoots.issuer), { what: 'the issuer of the new root' });
      await service[Symbol.asyncDispose]();
    });
  });

  describe('TokenReviewValidator', () => {
    it('accepts only service-account users confirmed for one of its audiences', async () => {
      const validator = new TokenReviewValidator({ kubeConfig, audiences: ['identity.meshbus.io', 'other'] });
      const token = new TextEncoder().encode('web-token');
      expect(await validator.validate(token)).toEqual({ namespace: 'shop', serviceAccount: 'web' });
      const answers = [
        { authenticated: true, user: { username: 'alice' }, audiences: ['other'] },
        { authenticated: true, user: { username: 'system:serviceaccount:shop' }, audiences: ['other'] },
        { authenticated: true, user: { username: 'system:serviceaccount:shop:web' } },
        { authenticated: false, error: 'token expired' },
      ];
      for (const answer of answers) {
        kube.setTokenReviewHandler(() => answer);
        await expect(validator.validate(token)).rejects.toBeInstanceOf(TokenRejectedError);
      }
      kube.setTokenReviewHandler((_token, audiences) => ({ authenticated: true, user: { username: 'system:serviceaccount:a:b' }, audiences: audiences.slice(1) }));
      expect(await validator.validate(token)).toEqual({ namespace: 'a', serviceAccount: 'b' });
      kube.setTokenReviewHandler(undefined);
    });
  });
});
