import { status, type Metadata, type ServerUnaryCall, type StatusObject } from '@grpc/grpc-js';
import { ErrorCode, NatsError, type Msg, type MsgHdrs, type RequestOptions } from 'nats';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, MalformedEventError, type BusEvent } from '@meshbus/bus';
import { busValidator, subjects, type CertifyResponse } from '@meshbus/bus-schemas';
import type { identity } from '@meshbus/proxy-api';
import { createMetricsRegistry, silentLogger, type Registry } from '@meshbus/runtime';
import {
  CertifyForwardError,
  certifyFailure,
  certifyRequestLimits,
  createIdentityHandler,
  decodeCertifyRequest,
  fromBusCertifyReply,
  requestTimeoutMs,
  toBusCertifyRequest,
  UndecodableCertifyRequest,
  type CertifyRequester,
  type IdentityForwarder,
  type ReceivedCertifyRequest,
} from './identity-forwarder.js';

const validator = busValidator();
const name = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

function request(overrides: Partial<identity.CertifyRequest> = {}): identity.CertifyRequest {
  return { identity: name, token: Buffer.from('token'), certificateSigningRequest: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]), ...overrides };
}

function replyEvent(data: CertifyResponse): BusEvent {
  const { headers, payload } = encodeEvent('certifyResponse', '_INBOX.test.1', data, { source: '/test/identity', subject: name }, validator);
  return decodeEvent('_INBOX.test.1', headers, payload, validator);
}

function reject(fn: () => unknown): CertifyForwardError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CertifyForwardError) return err;
    throw err;
  }
  throw new Error('expected a CertifyForwardError');
}

describe('toBusCertifyRequest', () => {
  it('encodes token and CSR as base64', () => {
    expect(toBusCertifyRequest(request())).toEqual({ identity: name, token: 'dG9rZW4=', csr: 'MAMCAQA=' });
  });

  it.each([
    ['an empty identity', { identity: '' }, /identity is empty/],
    ['a too long identity', { identity: 'a'.repeat(254) }, /254 characters long; at most 253/],
    ['an identity with a newline', { identity: 'web\r\nx: y' }, /printable ASCII/],
    ['an empty token', { token: Buffer.alloc(0) }, /token is empty/],
    ['a too large token', { token: Buffer.alloc(certifyRequestLimits.maxTokenBytes + 1) }, /token is 49153 bytes/],
    ['an empty CSR', { certificateSigningRequest: Buffer.alloc(0) }, /certificate_signing_request is empty/],
    ['a too large CSR', { certificateSigningRequest: Buffer.alloc(certifyRequestLimits.maxCsrBytes + 1) }, /49153 bytes; at most 49152 are allowed/],
  ])('refuses %s with INVALID_ARGUMENT', (_, overrides, message) => {
    const err = reject(() => toBusCertifyRequest(request(overrides)));
    expect(err.grpcCode).toBe(status.INVALID_ARGUMENT);
    expect(err.code).toBe('InvalidCertifyRequest');
    expect(err.message).toMatch(message);
  });

  it('accepts the largest request the bus schema allows', () => {
    const data = toBusCertifyRequest(
      request({
        identity: 'a'.repeat(253),
        token: Buffer.alloc(certifyRequestLimits.maxTokenBytes, 1),
        certificateSigningRequest: Buffer.alloc(certifyRequestLimits.maxCsrBytes, 2),
      }),
    );
    expect(() => validator.check('certifyRequest', data)).not.toThrow();
  });
});

describe('fromBusCertifyReply', () => {
  it('turns a signed certificate into DER buffers and a date', () => {
    const response = fromBusCertifyReply(
      replyEvent({ certificate: 'AQID', intermediates: ['BAU=', 'Bg=='], validUntil: '2030-01-02T03:04:05Z', serial: '0a' }),
    );
    expect(response).toEqual({
      leafCertificate: Buffer.from([1, 2, 3]),
      intermediateCertificates: [Buffer.from([4, 5]), Buffer.from([6])],
      validUntil: new Date('2030-01-02T03:04:05Z'),
    });
  });

  it('passes a refusal on with its gRPC status, code and message', () => {
    const err = reject(() =>
      fromBusCertifyReply(replyEvent({ error: { grpcCode: status.FAILED_PRECONDITION, code: 'CsrSanMismatch', message: 'CSR must name web' } })),
    );
    expect(err).toMatchObject({ grpcCode: status.FAILED_PRECONDITION, code: 'CsrSanMismatch', message: 'CSR must name web' });
  });

  it('refuses a certificate that is not base64 as INTERNAL', () => {
    const err = reject(() => fromBusCertifyReply(replyEvent({ certificate: 'not base64!', intermediates: [], validUntil: '2030-01-02T03:04:05Z', serial: '0a' })));
    expect(err.grpcCode).toBe(status.INTERNAL);
    expect(err.message).toMatch(/certificate is not base64 DER/);
  });

  it('refuses an empty certificate as INTERNAL', () => {
    const err = reject(() => fromBusCertifyReply(replyEvent({ certificate: '', intermediates: [], validUntil: '2030-01-02T03:04:05Z', serial: '0a' })));
    expect(err.grpcCode).toBe(status.INTERNAL);
  });

  it('refuses an event of another kind as INTERNAL', () => {
    const { headers, payload } = encodeEvent('certifyRequest', subjects.certify, { identity: name, token: 'dA==', csr: 'MA==' }, { source: '/x', subject: name }, validator);
    const err = reject(() => fromBusCertifyReply(decodeEvent(subjects.certify, headers, payload, validator)));
    expect(err.grpcCode).toBe(status.INTERNAL);
    expect(err.message).toMatch(/unexpected event type/);
  });
});

describe('certifyFailure', () => {
  it.each([
    [ErrorCode.NoResponders, /no identity service answered/],
    [ErrorCode.Timeout, /no identity service answered/],
    [ErrorCode.ConnectionClosed, /the bus cannot carry the request/],
  ])('maps NATS error %s to UNAVAILABLE', (code, message) => {
    const failure = certifyFailure(new NatsError('nats says no', code));
    expect(failure.grpcCode).toBe(status.UNAVAILABLE);
    expect(failure.code).toBe('IdentityUnavailable');
    expect(failure.message).toMatch(message);
  });

  it('maps a malformed reply to INTERNAL', () => {
    expect(certifyFailure(new MalformedEventError('json', 'data is not JSON')).grpcCode).toBe(status.INTERNAL);
  });

  it('maps anything else to INTERNAL', () => {
    expect(certifyFailure(new Error('boom'))).toMatchObject({ grpcCode: status.INTERNAL, message: 'certify failed: boom' });
  });
});

describe('requestTimeoutMs', () => {
  it('uses the configured timeout when the call has no deadline', () => {
    expect(requestTimeoutMs(Infinity, 10_000, 1_000)).toBe(10_000);
  });

  it('uses what is left of a nearer deadline', () => {
    expect(requestTimeoutMs(new Date(3_500), 10_000, 1_000)).toBe(2_500);
    expect(requestTimeoutMs(900, 10_000, 1_000)).toBe(-100);
  });
});

/** A hand-written fake of the NATS request seam: answers with whatever the test queues. */
class FakeRequester implements CertifyRequester {
  readonly sent: { subject: string; data: Uint8Array; headers: MsgHdrs | undefined; timeout: number }[] = [];
  constructor(private readonly answer: () => Promise<Msg>) {}

  request(subject: string, data?: Uint8Array | string, opts?: RequestOptions): Promise<Msg> {
    this.sent.push({ subject, data: data as Uint8Array, headers: opts?.headers, timeout: opts?.timeout ?? 0 });
    return this.answer();
  }
}

function replyMsg(data: CertifyResponse): Msg {
  const subject = '_INBOX.fake.1';
  const { headers, payload } = encodeEvent('certifyResponse', subject, data, { source: '/test/identity', subject: name }, validator);
  return {
    subject,
    sid: 1,
    data: payload,
    headers,
    respond: () => false,
    json: <T>() => JSON.parse(new TextDecoder().decode(payload)) as T,
    string: () => new TextDecoder().decode(payload),
  };
}

/** The value of one series, by its `code` label. */
async function counted(registry: Registry, metric: string, code: string, series = metric): Promise<number | undefined> {
  const values = (await registry.getSingleMetric(metric)?.get())?.values ?? [];
  // Histograms list their _bucket, _sum and _count series under one metric.
  return values.find((v) => v.labels.code === code && ((v as { metricName?: string }).metricName ?? metric) === series)?.value;
}

type Outcome = { error: Partial<StatusObject> | null; response: identity.CertifyResponse | null | undefined };

function call(handler: IdentityForwarder, req: ReceivedCertifyRequest, deadline: Date | number = Infinity): Promise<Outcome> {
  const unaryCall = { request: req, getDeadline: () => deadline, getPeer: () => 'ipv4:127.0.0.1:1' } as unknown as ServerUnaryCall<ReceivedCertifyRequest, identity.CertifyResponse>;
  return new Promise((resolve) => {
    handler.certify(unaryCall, (error, response) => resolve({ error: error as Partial<StatusObject> | null, response }));
  });
}

describe('decodeCertifyRequest', () => {
  it('decodes a CertifyRequest and gives the decoder error for anything else, without throwing', () => {
    const bytes = Buffer.from([0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x1a, 0x01, 0x63]);
    expect(decodeCertifyRequest(bytes)).toEqual({ identity: 'a', token: Buffer.from('b'), certificateSigningRequest: Buffer.from('c') });
    for (const garbage of [[0xff, 0xff, 0xff], [0x0a, 0x10, 0x61], [0x0f], [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]) {
      const decoded = decodeCertifyRequest(Buffer.from(garbage));
      expect(decoded, JSON.stringify(garbage)).toBeInstanceOf(UndecodableCertifyRequest);
      expect((decoded as UndecodableCertifyRequest).byteLength).toBe(garbage.length);
      expect((decoded as UndecodableCertifyRequest).reason.length).toBeGreaterThan(0);
    }
  });
});

describe('createIdentityHandler', () => {
  it('answers an undecodable request with INVALID_ARGUMENT, sends nothing on the bus and counts it', async () => {
    const nc = new FakeRequester(async () => replyMsg({ certificate: 'AQID', intermediates: [], validUntil: '2030-01-02T03:04:05Z', serial: '0a' }));
    const registry = createMetricsRegistry('gateway', { processMetrics: false });
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger(), registry });

    const { error, response } = await call(handler, new UndecodableCertifyRequest(3, 'invalid wire type 7'));

    expect(response).toBeNull();
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(error?.details).toMatch(/^the request \(3 bytes\) is not a protobuf io\.linkerd\.proxy\.identity\.CertifyRequest: invalid wire type 7/);
    expect((error?.metadata as Metadata).get('meshbus-error-code')).toEqual(['InvalidCertifyRequest']);
    expect(nc.sent).toEqual([]);
    expect(await counted(registry, 'meshbus_gateway_certify_total', 'INVALID_ARGUMENT')).toBe(1);
    const invalid = (await registry.getSingleMetric('meshbus_gateway_certify_invalid_requests_total')?.get())?.values ?? [];
    expect(invalid.map((v) => [v.labels.reason, v.value])).toEqual([['undecodable', 1]]);
  });


  const issued: CertifyResponse = { certificate: 'AQID', intermediates: ['BAU='], validUntil: '2030-01-02T03:04:05Z', serial: '0a' };

  it('sends a certifyRequest CloudEvent and answers with the certificate', async () => {
    const nc = new FakeRequester(async () => replyMsg(issued));
    const registry = createMetricsRegistry('gateway', { processMetrics: false });
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger(), timeoutMs: 1234, registry });

    const { error, response } = await call(handler, request());

    expect(error).toBeNull();
    expect(response?.leafCertificate).toEqual(Buffer.from([1, 2, 3]));
    const [sent] = nc.sent;
    expect(sent?.subject).toBe(subjects.certify);
    expect(sent?.timeout).toBe(1234);
    const event = decodeEvent(subjects.certify, sent?.headers, sent!.data, validator);
    expect(event).toMatchObject({ kind: 'certifyRequest', source: '/meshbus/gateway/test', subject: name, data: { identity: name, token: 'dG9rZW4=' } });
    expect(await counted(registry, 'meshbus_gateway_certify_total', 'OK')).toBe(1);
  });

  it('answers a refusal with its status and the code as a trailer', async () => {
    const nc = new FakeRequester(async () => replyMsg({ error: { grpcCode: status.UNAUTHENTICATED, code: 'TokenExpired', message: 'token expired' } }));
    const registry = createMetricsRegistry('gateway', { processMetrics: false });
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger(), registry });

    const { error } = await call(handler, request());

    expect(error).toMatchObject({ code: status.UNAUTHENTICATED, details: 'token expired' });
    expect((error?.metadata as Metadata).get('meshbus-error-code')).toEqual(['TokenExpired']);
    expect(await counted(registry, 'meshbus_gateway_certify_total', 'UNAUTHENTICATED')).toBe(1);
    expect(await counted(registry, 'meshbus_gateway_certify_duration_seconds', 'UNAUTHENTICATED', 'meshbus_gateway_certify_duration_seconds_count')).toBe(1);
  });

  it('answers UNAVAILABLE when no identity replica responds', async () => {
    const nc = new FakeRequester(() => Promise.reject(new NatsError('503', ErrorCode.NoResponders)));
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger() });

    const { error } = await call(handler, request());

    expect(error).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/no identity service answered/) });
  });

  it('refuses a bad request without touching the bus', async () => {
    const nc = new FakeRequester(async () => replyMsg(issued));
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger() });

    const { error } = await call(handler, request({ token: Buffer.alloc(0) }));

    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/token is empty/) });
    expect(nc.sent).toHaveLength(0);
  });

  it('answers DEADLINE_EXCEEDED when the call deadline has already passed', async () => {
    const nc = new FakeRequester(async () => replyMsg(issued));
    const handler = createIdentityHandler({ nc, validator, source: '/meshbus/gateway/test', logger: silentLogger() });

    const { error } = await call(handler, request(), Date.now() - 1);

    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(nc.sent).toHaveLength(0);
  });

  it('shares metrics between handlers on one registry', () => {
    const registry = createMetricsRegistry('gateway', { processMetrics: false });
    const nc = new FakeRequester(async () => replyMsg(issued));
    createIdentityHandler({ nc, validator, source: '/a', logger: silentLogger(), registry });
    expect(() => createIdentityHandler({ nc, validator, source: '/b', logger: silentLogger(), registry })).not.toThrow();
  });

  it('refuses a timeout that is not positive', () => {
    const nc = new FakeRequester(async () => replyMsg(issued));
    expect(() => createIdentityHandler({ nc, validator, source: '/a', logger: silentLogger(), timeoutMs: 0 })).toThrow(/positive/);
  });
});
