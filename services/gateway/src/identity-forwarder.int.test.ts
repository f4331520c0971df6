import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type CertifyResponse } from '@meshbus/bus-schemas';
import { identityName } from '@meshbus/core';
import { CertificateAuthority, createIssuer, createTrustAnchor, GrpcStatus, grpcStatusFor } from '@meshbus/trust';
import { identity } from '@meshbus/proxy-api';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { startNats, type NatsCluster } from '@meshbus/testing';
import { createCsr, decodePem } from '@meshbus/x509';
import { createIdentityHandler, identityServiceDefinition, type IdentityForwarder } from './identity-forwarder.js';

const validator = busValidator();
const HOUR = 3_600_000;
const GOOD_TOKEN = 'token-for-web';
const workload = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });

function newCa(): { ca: CertificateAuthority; anchorPem: string; issuerPem: string } {
  const now = Date.now();
  const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
  const anchor = createTrustAnchor({ commonName: 'root.test', validity });
  const issuer = createIssuer({ anchor, commonName: 'issuer.test', validity });
  const ca = CertificateAuthority.fromPem({
    trustAnchorsPem: anchor.certificatePem,
    issuerCertificatePem: issuer.certificatePem,
    issuerKeyPem: issuer.privateKeyPem,
  });
  return { ca, anchorPem: anchor.certificatePem, issuerPem: issuer.certificatePem };
}

/**
 * Plays the identity service: takes certify requests from the queue group, accepts only
 * {@link GOOD_TOKEN} for {@link workload}, and signs with a real CertificateAuthority.
 */
function serveIdentity(nc: NatsConnection, ca: CertificateAuthority): Subscription {
  const sub = nc.subscribe(subjects.certify, { queue: 'meshbus-identity' });
  void (async () => {
    for await (const msg of sub) {
      const event = decodeEvent(msg.subject, msg.headers, msg.data, validator);
      if (event.kind !== 'certifyRequest') continue;
      const request = (event as { data: { identity: string; token: string; csr: string } }).data;
      let answer: CertifyResponse;
      if (Buffer.from(request.token, 'base64').toString() !== GOOD_TOKEN || request.identity !== workload) {
        answer = { error: { grpcCode: GrpcStatus.PERMISSION_DENIED, code: 'IdentityMismatch', message: `not entitled to ${request.identity}` } };
      } else {
        try {
          const issued = await ca.issue({ identity: request.identity, csrDer: Buffer.from(request.csr, 'base64') });
          answer = {
            certificate: Buffer.from(issued.leafDer).toString('base64'),
            intermediates: issued.intermediatesDer.map((der) => Buffer.from(der).toString('base64')),
            validUntil: issued.validUntil.toISOString(),
            serial: issued.serial,
          };
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'Internal';
          answer = { error: { grpcCode: grpcStatusFor(error), code, message: (error as Error).message } };
        }
      }
      const reply = encodeEvent('certifyResponse', msg.reply!, answer, { source: '/test/identity', subject: request.identity }, validator);
      msg.respond(reply.payload, { headers: reply.headers });
    }
  })();
  return sub;
}

async function serve(handler: IdentityForwarder): Promise<{ client: identity.IdentityClient; port: number; stop: () => Promise<void> }> {
  const server = new Server();
  server.addService(identityServiceDefinition, handler);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  const client = new identity.IdentityClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return {
    client,
    port,
    stop: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

function certify(client: identity.IdentityClient, request: identity.CertifyRequest): Promise<identity.CertifyResponse> {
  return new Promise((resolve, reject) => {
    client.certify(request, new Metadata(), { deadline: Date.now() + 15_000 }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function refusal(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

function csrFor(name: string): Buffer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return Buffer.from(createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: name }] }));
}

describe('identity forwarder through a real nats-server', () => {
  let nats: NatsCluster;
  let gatewayNc: NatsConnection;
  let identityNc: NatsConnection;
  let responder: Subscription;
  let gateway: Awaited<ReturnType<typeof serve>>;
  let ca: ReturnType<typeof newCa>;
  const registry = createMetricsRegistry('gateway', { processMetrics: false });

  beforeAll(async () => {
    nats = await startNats();
    gatewayNc = await connect({ servers: nats.url });
    identityNc = await connect({ servers: nats.url });
    ca = newCa();
    responder = serveIdentity(identityNc, ca.ca);
    await identityNc.flush();
    gateway = await serve(
      createIdentityHandler({ nc: gatewayNc, validator, source: '/meshbus/gateway/test', logger: silentLogger(), registry, timeoutMs: 5_000 }),
    );
  });

  afterAll(async () => {
    await gateway?.stop();
    await gatewayNc?.close();
    await identityNc?.close();
    await nats?.stop();
  });

  it('returns a leaf signed by the issuer for the identity', async () => {
    const response = await certify(gateway.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: csrFor(workload) });

    const leaf = new X509Certificate(response.leafCertificate);
    const issuer = new X509Certificate(decodePem(ca.issuerPem, 'CERTIFICATE'));
    expect(leaf.subjectAltName).toBe(`DNS:${workload}`);
    expect(leaf.verify(issuer.publicKey)).toBe(true);
    expect(response.intermediateCertificates.map((der) => Buffer.from(der))).toEqual([Buffer.from(issuer.raw)]);
    expect(response.validUntil?.getTime()).toBe(new Date(leaf.validTo).getTime());
    expect(response.validUntil!.getTime()).toBeGreaterThan(Date.now() + 23 * HOUR);
  });

  it('returns the identity service refusal with its gRPC status and code', async () => {
    const denied = await refusal(
      certify(gateway.client, { identity: workload, token: Buffer.from('someone-else'), certificateSigningRequest: csrFor(workload) }),
    );
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.details).toBe(`not entitled to ${workload}`);
    expect(denied.metadata.get('meshbus-error-code')).toEqual(['IdentityMismatch']);

    const mismatch = await refusal(
      certify(gateway.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: csrFor('other.example') }),
    );
    expect(mismatch.code).toBe(status.FAILED_PRECONDITION);
    expect(mismatch.details).toMatch(/subjectAltName must be exactly DNS:/);
  });

  it('refuses a bad request with INVALID_ARGUMENT', async () => {
    const error = await refusal(certify(gateway.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: Buffer.alloc(0) }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/certificate_signing_request is empty/);
  });

  it('answers raw bytes that are not a CertifyRequest with INVALID_ARGUMENT (not INTERNAL, which proxies retry)', async () => {
    const raw = new Client(`127.0.0.1:${gateway.port}`, credentials.createInsecure());
    const send = (bytes: Buffer) =>
      new Promise<ServiceError>((resolve, reject) => {
        raw.makeUnaryRequest<Buffer, Buffer>(
          identity.IdentityService.certify.path,
          (b) => b,
          (b) => b,
          bytes,
          new Metadata(),
          { deadline: Date.now() + 10_000 },
          (error) => (error ? resolve(error) : reject(new Error('the garbage was accepted'))),
        );
      });
    try {
      for (const garbage of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x7f, 0x01]), Buffer.from('GET / HTTP/1.1\r\n')]) {
        const error = await send(garbage);
        expect(error.code, garbage.toString('hex')).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(new RegExp(`^the request \\(${garbage.length} bytes\\) is not a protobuf io\\.linkerd\\.proxy\\.identity\\.CertifyRequest: `));
        expect(error.metadata.get('meshbus-error-code')).toEqual(['InvalidCertifyRequest']);
      }
    } finally {
      raw.close();
    }
    const values = (await registry.getSingleMetric('meshbus_gateway_certify_invalid_requests_total')?.get())?.values ?? [];
    expect(values.find((v) => v.labels.reason === 'undecodable')?.value).toBe(3);
    // The gateway still serves well-formed calls.
    const response = await certify(gateway.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: csrFor(workload) });
    expect(response.leafCertificate.length).toBeGreaterThan(0);
  });

  it('answers UNAVAILABLE when an identity replica does not answer in time', async () => {
    const silent = identityNc.subscribe(subjects.certify, { queue: 'meshbus-identity-silent' });
    if (!responder.isClosed()) responder.unsubscribe();
    await identityNc.flush();
    const impatient = await serve(createIdentityHandler({ nc: gatewayNc, validator, source: '/meshbus/gateway/test', logger: silentLogger(), timeoutMs: 300 }));
    try {
      const error = await refusal(certify(impatient.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: csrFor(workload) }));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toMatch(/no identity service answered/);
    } finally {
      silent.unsubscribe();
      await impatient.stop();
    }
  });

  it('answers UNAVAILABLE when no identity service is subscribed', async () => {
    if (!responder.isClosed()) responder.unsubscribe();
    await identityNc.flush();
    const started = Date.now();
    const error = await refusal(certify(gateway.client, { identity: workload, token: Buffer.from(GOOD_TOKEN), certificateSigningRequest: csrFor(workload) }));
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toMatch(/no identity service answered/);
    // No responders is reported by the server at once, well before the 5 s timeout.
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('counts the calls by status', async () => {
    const values = (await registry.getSingleMetric('meshbus_gateway_certify_total')?.get())?.values ?? [];
    const byCode = Object.fromEntries(values.map((v) => [v.labels.code, v.value]));
    expect(byCode).toMatchObject({ OK: 2, PERMISSION_DENIED: 1, FAILED_PRECONDITION: 1, INVALID_ARGUMENT: 4, UNAVAILABLE: 1 });
    const invalid = (await registry.getSingleMetric('meshbus_gateway_certify_invalid_requests_total')?.get())?.values ?? [];
    expect(Object.fromEntries(invalid.map((v) => [v.labels.reason, v.value]))).toEqual({ undecodable: 3, field: 1 });
  });
});
