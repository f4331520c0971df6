import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MsgHdrs } from 'nats';
import { busValidator, subjects, type BusValidator, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { Registry, silentLogger } from '@meshbus/runtime';
import { CertifyHandler, type CertifyOutcome } from './certify-handler.js';
import { CertifyResponder, type CertifyMessage } from './certify-responder.js';
import { registerIdentityMetrics } from './identity-metrics.js';
import type { IssuerMaterial, IssuerSource, IssuerSourceListener } from './issuer-source.js';
import { IssuerReloader, type IssuerRefusal } from './issuer-reloader.js';
import { TokenRejectedError, TokenReviewUnavailableError, type ServiceAccountRef, type TokenValidator } from '@meshbus/trust';
import { WorkloadTokenValidator } from '@meshbus/trust';
import { certifyRequest, identityOf, makeCsr, makeTokenKeys, makeTrustMaterial, workloadToken } from './test-fixtures.js';
import type { TrustMaterial } from '@meshbus/trust';

/** Authenticates every token as one service account, or fails with one error. */
class FakeTokenValidator implements TokenValidator {
  readonly tokens: string[] = [];
  constructor(private readonly answer: ServiceAccountRef | Error) {}
  async validate(token: Uint8Array): Promise<ServiceAccountRef> {
    this.tokens.push(Buffer.from(token).toString('utf8'));
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

/** Reports whatever the test hands it. */
class FakeIssuerSource implements IssuerSource {
  readonly description = 'fake:issuer';
  private listener: IssuerSourceListener | undefined;
  constructor(private readonly initial: IssuerMaterial | string) {}
  async start(listener: IssuerSourceListener): Promise<void> {
    this.listener = listener;
    if (typeof this.initial === 'string') listener.unreadable(this.initial);
    else listener.material(this.initial);
  }
  async stop(): Promise<void> {
    this.listener = undefined;
  }
  report(material: IssuerMaterial): void {
    this.listener?.material(material);
  }
  fail(reason: string): void {
    this.listener?.unreadable(reason);
  }
}

function materialOf(anchor: TrustMaterial, issuer: TrustMaterial): IssuerMaterial {
  return { trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem };
}

const web = identityOf('web', 'shop');
const { anchor, issuer } = makeTrustMaterial();

async function handlerWith(validator: TokenValidator, source: IssuerSource): Promise<{ handler: CertifyHandler; refusals: IssuerRefusal[] }> {
  const refusals: IssuerRefusal[] = [];
  const reloader = new IssuerReloader({ source, onLoaded: () => undefined, onRefused: (r) => refusals.push(r) });
  await reloader.start();
  const handler = new CertifyHandler({ tokenValidator: validator, issuer: () => reloader.current, controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
  return { handler, refusals };
}

function failureOf(outcome: CertifyOutcome): { grpcCode: number; code: string; message: string } {
  if (outcome.ok) throw new Error('expected a refusal');
  expect(outcome.response).toEqual({ error: outcome.failure });
  return outcome.failure;
}

describe('CertifyHandler', () => {
  it('signs a leaf for the identity the token proves, with the issuer chain', async () => {
    const validator = new FakeTokenValidator({ namespace: 'shop', serviceAccount: 'web' });
    const { handler } = await handlerWith(validator, new FakeIssuerSource(materialOf(anchor, issuer)));
    const outcome = await handler.certify(certifyRequest(web, 'the-token', makeCsr(web).csrDer));
    expect(validator.tokens).toEqual(['the-token']);
    if (!outcome.ok) throw new Error(outcome.failure.message);
    const response = outcome.response as Extract<CertifyResponse, { certificate: string }>;
    const leaf = new X509Certificate(Buffer.from(response.certificate, 'base64'));
    const issuerCertificate = new X509Certificate(issuer.certificatePem);
    expect(leaf.subjectAltName).toBe(`DNS:${web}`);
    expect(leaf.verify(issuerCertificate.publicKey)).toBe(true);
    expect(response.intermediates).toEqual([issuerCertificate.raw.toString('base64')]);
    expect(response.serial).toBe(outcome.issued.serial);
    expect(new Date(response.validUntil).getTime()).toBe(new Date(leaf.validTo).getTime());
    const schemas: BusValidator = busValidator();
    schemas.check('certifyResponse', response);
  });

  it('refuses a caller asking for another identity with PERMISSION_DENIED (7)', async () => {
    const { handler } = await handlerWith(new FakeTokenValidator({ namespace: 'shop', serviceAccount: 'web' }), new FakeIssuerSource(materialOf(anchor, issuer)));
    const db = identityOf('db', 'shop');
    const failure = failureOf(await handler.certify(certifyRequest(db, 't', makeCsr(db).csrDer)));
    expect(failure).toMatchObject({ grpcCode: 7, code: 'IdentityMismatch' });
    expect(failure.message).toContain(web);
  });

  it('refuses a bad CSR with INVALID_ARGUMENT (3)', async () => {
    const { handler } = await handlerWith(new FakeTokenValidator({ namespace: 'shop', serviceAccount: 'web' }), new FakeIssuerSource(materialOf(anchor, issuer)));
    const garbage = failureOf(await handler.certify(certifyRequest(web, 't', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))));
    expect(garbage).toMatchObject({ grpcCode: 3, code: 'MalformedCsr' });
    const notBase64 = failureOf(await handler.certify({ identity: web, token: 'dA==', csr: 'not base64!' }));
    expect(notBase64).toMatchObject({ grpcCode: 3, code: 'MalformedRequest', message: 'csr is not base64' });
    // A CSR for a name other than the identity: well formed, but not for this request.
    const other = failureOf(await handler.certify(certifyRequest(web, 't', makeCsr(identityOf('db', 'shop')).csrDer)));
    expect(other).toMatchObject({ grpcCode: 9, code: 'CsrSanMismatch' });
  });

  it('answers UNAVAILABLE (14) without an issuer', async () => {
    const { handler, refusals } = await handlerWith(new FakeTokenValidator({ namespace: 'shop', serviceAccount: 'web' }), new FakeIssuerSource('issuer key file /x does not exist'));
    expect(refusals).toEqual([{ code: 'IssuerUnreadable', reason: 'issuer key file /x does not exist', source: 'fake:issuer' }]);
    expect(failureOf(await handler.certify(certifyRequest(web, 't', makeCsr(web).csrDer)))).toMatchObject({ grpcCode: 14, code: 'NoIssuer' });
  });

  it('answers UNAUTHENTICATED (16) for a token that does not authenticate, UNAVAILABLE (14) when it cannot be checked', async () => {
    const source = new FakeIssuerSource(materialOf(anchor, issuer));
    const rejected = await handlerWith(new FakeTokenValidator(new TokenRejectedError('token is not authenticated')), source);
    expect(failureOf(await rejected.handler.certify(certifyRequest(web, 't', makeCsr(web).csrDer)))).toEqual({
      grpcCode: 16,
      code: 'TokenRejected',
      message: 'token is not authenticated',
    });
    const unavailable = await handlerWith(new FakeTokenValidator(new TokenReviewUnavailableError('token review failed: HTTP 503')), source);
    expect(failureOf(await unavailable.handler.certify(certifyRequest(web, 't', makeCsr(web).csrDer)))).toMatchObject({ grpcCode: 14, code: 'TokenReviewUnavailable' });
  });

  it('verifies local-mode workload tokens: a forged one gets 16', async () => {
    const keys = makeTokenKeys();
    const forger = makeTokenKeys();
    const validator = new WorkloadTokenValidator({ publicKey: keys.publicKey });
    const { handler } = await handlerWith(validator, new FakeIssuerSource(materialOf(anchor, issuer)));
    const good = await handler.certify(certifyRequest(web, workloadToken(keys.privateKey, 'web', 'shop'), makeCsr(web).csrDer));
    expect(good.ok).toBe(true);
    const forged = failureOf(await handler.certify(certifyRequest(web, workloadToken(forger.privateKey, 'web', 'shop'), makeCsr(web).csrDer)));
    expect(forged).toMatchObject({ grpcCode: 16, code: 'TokenSignatureInvalid' });
    const otherAudience = failureOf(await handler.certify(certifyRequest(web, workloadToken(keys.privateKey, 'web', 'shop', 'elsewhere'), makeCsr(web).csrDer)));
    expect(otherAudience).toMatchObject({ grpcCode: 16, code: 'TokenAudienceMismatch' });
  });

  it('does not describe internal errors to the caller', async () => {
    const { handler } = await handlerWith(new FakeTokenValidator(new Error('socket hang up at 10.0.0.1')), new FakeIssuerSource(materialOf(anchor, issuer)));
    const failure = failureOf(await handler.certify(certifyRequest(web, 't', makeCsr(web).csrDer)));
    expect(failure.grpcCode).toBe(13);
    expect(failure.message).not.toContain('10.0.0.1');
  });
});

describe('IssuerReloader', () => {
  it('swaps in a rotated issuer, refuses one that does not chain and keeps the old one', async () => {
    const source = new FakeIssuerSource(materialOf(anchor, issuer));
    const loaded: string[] = [];
    const refusals: IssuerRefusal[] = [];
    const reloader = new IssuerReloader({
      source,
      onLoaded: (change) => loaded.push(`${change.previous ? 'rotated' : 'first'}:${new X509Certificate(change.authority.issuerCertificateDer).subject}`),
      onRefused: (refusal) => refusals.push(refusal),
    });
    await reloader.start();
    const first = reloader.current;
    source.report(materialOf(anchor, issuer));
    expect(reloader.current).toBe(first);

    const foreign = makeTrustMaterial();
    source.report(materialOf(anchor, foreign.issuer));
    source.report(materialOf(anchor, foreign.issuer));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ code: 'IssuerNotTrusted', source: 'fake:issuer' });
    expect(reloader.current).toBe(first);

    const next = makeTrustMaterial();
    const rotated = { trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: next.issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem };
    source.report(rotated);
    expect(refusals[1]).toMatchObject({ code: 'IssuerKeyMismatch' });

    source.report(materialOf(next.anchor, next.issuer));
    expect(loaded).toEqual(['first:CN=identity.meshbus.test', 'rotated:CN=identity.meshbus.test']);
    expect(reloader.current).not.toBe(first);
    expect(Buffer.from(reloader.current!.trustAnchorsDer[0]!)).toEqual(new X509Certificate(next.anchor.certificatePem).raw);

    source.fail('Secret meshbus/issuer does not exist');
    expect(refusals[2]).toEqual({ code: 'IssuerUnreadable', reason: 'Secret meshbus/issuer does not exist', source: 'fake:issuer' });
    expect(reloader.current).toBeDefined();
  });
});

describe('CertifyResponder', () => {
  const validator: BusValidator = busValidator();
  const inbox = '_INBOX.test.1';

  async function respond(msg: Omit<CertifyMessage, 'respond'>): Promise<{ response: CertifyResponse | undefined; registry: Registry }> {
    const registry = new Registry();
    const metrics = registerIdentityMetrics(registry, () => undefined);
    const { handler } = await handlerWith(new FakeTokenValidator({ namespace: 'shop', serviceAccount: 'web' }), new FakeIssuerSource(materialOf(anchor, issuer)));
    const responder = new CertifyResponder({ handler, validator, source: '/meshbus/identity/r1', logger: silentLogger(), metrics });
    let response: CertifyResponse | undefined;
    await responder.answer({
      ...msg,
      respond: (payload, options) => {
        const event = decodeEvent(inbox, options?.headers, payload as Uint8Array, validator);
        expect(event).toMatchObject({ kind: 'certifyResponse', source: '/meshbus/identity/r1' });
        response = event.data as CertifyResponse;
        return true;
      },
    });
    return { response, registry };
  }

  function requestMessage(data: unknown, edit?: (h: MsgHdrs) => void): Omit<CertifyMessage, 'respond'> {
    const { headers, payload } = encodeEvent('certifyRequest', subjects.certify, certifyRequest(web, 't', makeCsr(web).csrDer), { source: '/test', subject: web }, validator);
    edit?.(headers);
    return { subject: subjects.certify, reply: inbox, headers, data: data === undefined ? payload : Buffer.from(JSON.stringify(data)) };
  }

  it('answers a valid request with a certificate', async () => {
    const { response, registry } = await respond(requestMessage(undefined));
    expect(response).toHaveProperty('certificate');
    expect(await registry.getSingleMetricAsString('meshbus_identity_certificates_issued_total')).toContain('result="ok"} 1');
  });

  it('answers malformed requests with INVALID_ARGUMENT and counts them', async () => {
    const cases: [string, Omit<CertifyMessage, 'respond'>, RegExp][] = [
      ['no headers', { subject: subjects.certify, reply: inbox, headers: undefined, data: new Uint8Array() }, /missing header ce-specversion/],
      ['wrong type', requestMessage(undefined, (h) => h.set('ce-type', 'io.meshbus.v1.endpoints.snapshot')), /not expected on/],
      ['unknown type', requestMessage(undefined, (h) => h.set('ce-type', 'com.example.other')), /unknown ce-type/],
      ['bad spec version', requestMessage(undefined, (h) => h.set('ce-specversion', '0.3')), /ce-specversion/],
      ['not JSON', { ...requestMessage(undefined), data: Buffer.from('{') }, /not JSON/],
      ['schema', requestMessage({ identity: web, token: 't' }), /csr/],
    ];
    for (const [name, msg, message] of cases) {
      const { response, registry } = await respond(msg);
      expect(response, name).toMatchObject({ error: { grpcCode: 3, code: 'MalformedEvent' } });
      expect((response as { error: { message: string } }).error.message, name).toMatch(message);
      expect(await registry.getSingleMetricAsString('meshbus_identity_certificates_issued_total'), name).toContain('result="MalformedEvent"} 1');
    }
  });

  it('ignores a request without a reply subject', async () => {
    const { response } = await respond({ ...requestMessage(undefined), reply: undefined });
    expect(response).toBeUndefined();
  });
});
