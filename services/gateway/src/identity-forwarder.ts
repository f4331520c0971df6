import { Metadata, status, type Deadline, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ErrorCode, NatsError, type NatsConnection } from 'nats';
import { decodeEvent, encodeEvent, MalformedEventError, type BusEvent } from '@meshbus/bus';
import { subjects, SchemaValidationError, type BusValidator, type CertifyRequest } from '@meshbus/bus-schemas';
import { identity } from '@meshbus/proxy-api';
import { ConfigError, Counter, Histogram, MeshbusError, errorMessage, type Logger, type Registry } from '@meshbus/runtime';

/** @default 10 seconds */
export const DEFAULT_CERTIFY_TIMEOUT_MS = 10_000;

/**
 * Bounds a Certify request must respect before it is put on the bus. The token and CSR travel as
 * base64, and `certify-request.schema.json` caps each base64 text at 65536 characters: 49152 bytes.
 */
export const certifyRequestLimits = {
  maxIdentityLength: 253,
  maxTokenBytes: 49_152,
  maxCsrBytes: 49_152,
} as const;

/** Trailer carrying the stable code of a refusal (such as `CsrSanMismatch`) next to the gRPC status. */
export const ERROR_CODE_TRAILER = 'meshbus-error-code';

/** Stable codes of {@link CertifyForwardError} raised by the gateway itself. */
export const CertifyForwardErrorCode = {
  /** The proxy's request is missing a field or exceeds a bound. */
  InvalidCertifyRequest: 'InvalidCertifyRequest',
  /** No identity replica answered in time, or the bus could not carry the request. */
  IdentityUnavailable: 'IdentityUnavailable',
  /** An identity replica answered with something that is not a valid certify response. */
  MalformedCertifyReply: 'MalformedCertifyReply',
  /** The proxy's deadline passed before the request could be forwarded. */
  DeadlineExceeded: 'DeadlineExceeded',
} as const;

/**
 * A Certify call that ends with a non-OK gRPC status. `code` is one of
 * {@link CertifyForwardErrorCode}, or the identity service's own code when it refused the request.
 */
export class CertifyForwardError extends MeshbusError {
  override name = 'CertifyForwardError';
  constructor(
    readonly grpcCode: status,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The parts of a NATS connection the forwarder uses; a {@link NatsConnection} fits. */
export type CertifyRequester = Pick<NatsConnection, 'request'>;

/** Options of {@link createIdentityHandler}. */
export interface IdentityHandlerOptions {
  /** Connection the requests go out on. */
  nc: CertifyRequester;
  validator: BusValidator;
  /** CloudEvents `source` of the requests, such as `/meshbus/gateway/<replica>`. */
  source: string;
  logger: Logger;
  /** Longest wait for an identity replica; a shorter deadline set by the proxy wins. @default 10000 */
  timeoutMs?: number;
  /** Where the certify metrics are registered; none keeps them unregistered. */
  registry?: Registry;
}

/**
 * Bytes a client sent as a Certify request that are not a protobuf `CertifyRequest`. The gateway's
 * deserializer gives this instead of throwing, because grpc-js answers a throwing deserializer
 * with INTERNAL, which proxies retry for ever; the handler answers it with INVALID_ARGUMENT.
 */
export class UndecodableCertifyRequest {
  constructor(
    /** Length of the request message. */
    readonly byteLength: number,
    /** What the protobuf decoder reported. */
    readonly reason: string,
  ) {}
}

/** A Certify request as the gateway's deserializer hands it to the handler. */
export type ReceivedCertifyRequest = identity.CertifyRequest | UndecodableCertifyRequest;

/** Decodes a Certify request message; never throws. */
export function decodeCertifyRequest(bytes: Buffer): ReceivedCertifyRequest {
  try {
    return identity.CertifyRequest.decode(bytes);
  } catch (error) {
    return new UndecodableCertifyRequest(bytes.length, errorMessage(error));
  }
}

/** The gateway's `io.linkerd.proxy.identity.Identity` implementation, see {@link createIdentityHandler}. */
export interface IdentityForwarder extends UntypedServiceImplementation {
  certify: handleUnaryCall<ReceivedCertifyRequest, identity.CertifyResponse>;
}

/**
 * The `io.linkerd.proxy.identity.Identity` service definition the gateway serves: the generated
 * one, with a request deserializer that never throws (see {@link UndecodableCertifyRequest}).
 */
export const identityServiceDefinition = {
  certify: { ...identity.IdentityService.certify, requestDeserialize: decodeCertifyRequest },
} as const;

function invalid(message: string): CertifyForwardError {
  return new CertifyForwardError(status.INVALID_ARGUMENT, CertifyForwardErrorCode.InvalidCertifyRequest, message);
}

// The identity becomes the ce-subject header, so it must be header-safe; the identity service
// decides whether it is a name it will sign.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Checks a proxy's Certify request and turns it into the bus's `certifyRequest` data. Throws
 * {@link CertifyForwardError} INVALID_ARGUMENT with a message naming the field.
 */
export function toBusCertifyRequest(request: identity.CertifyRequest): CertifyRequest {
  const { identity: name, token, certificateSigningRequest: csr } = request;
  if (name.length === 0) throw invalid('identity is empty; send the identity the certificate is for');
  if (name.length > certifyRequestLimits.maxIdentityLength) {
    throw invalid(`identity is ${name.length} characters long; at most ${certifyRequestLimits.maxIdentityLength} are allowed`);
  }
  if (!VISIBLE_ASCII.test(name)) throw invalid('identity may contain only printable ASCII characters without spaces');
  if (token.length === 0) throw invalid('token is empty; send the service-account or workload token');
  if (token.length > certifyRequestLimits.maxTokenBytes) {
    throw invalid(`token is ${token.length} bytes; at most ${certifyRequestLimits.maxTokenBytes} are allowed`);
  }
  if (csr.length === 0) throw invalid('certificate_signing_request is empty; send a DER PKCS#10 CSR');
  if (csr.length > certifyRequestLimits.maxCsrBytes) {
    throw invalid(`certificate_signing_request is ${csr.length} bytes; at most ${certifyRequestLimits.maxCsrBytes} are allowed`);
  }
  return { identity: name, token: Buffer.from(token).toString('base64'), csr: Buffer.from(csr).toString('base64') };
}

function malformedReply(message: string, cause?: unknown): CertifyForwardError {
  return new CertifyForwardError(
    status.INTERNAL,
    CertifyForwardErrorCode.MalformedCertifyReply,
    `the identity service sent an invalid reply: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeDer(text: string, what: string): Buffer {
  if (text.length === 0 || !BASE64.test(text)) throw malformedReply(`${what} is not base64 DER`);
  return Buffer.from(text, 'base64');
}

function isGrpcErrorStatus(code: number): code is status {
  return Number.isInteger(code) && code >= status.CANCELLED && code <= status.UNAUTHENTICATED;
}

/**
 * Turns an identity replica's decoded reply into the proxy's CertifyResponse. Throws
 * {@link CertifyForwardError}: with the reply's gRPC status and code when the identity service
 * refused, INTERNAL when the reply is not a usable certify response.
 */
export function fromBusCertifyReply(event: BusEvent): identity.CertifyResponse {
  if (event.kind !== 'certifyResponse') throw malformedReply(`unexpected event type ${event.type}`);
  const data = (event as BusEvent<'certifyResponse'>).data;
  if ('error' in data) {
    const { grpcCode, code, message } = data.error;
    if (!isGrpcErrorStatus(grpcCode)) throw malformedReply(`grpcCode ${grpcCode} is not an error status`);
    throw new CertifyForwardError(grpcCode, code, message);
  }
  const validUntil = new Date(data.validUntil);
  if (Number.isNaN(validUntil.getTime())) throw malformedReply('validUntil is not a date');
  return {
    leafCertificate: decodeDer(data.certificate, 'certificate'),
    intermediateCertificates: data.intermediates.map((der, i) => decodeDer(der, `intermediates[${i}]`)),
    validUntil,
  };
}

const NO_ANSWER = new Set<string>([ErrorCode.NoResponders, ErrorCode.Timeout]);

/** Classifies anything thrown while forwarding as the status the proxy gets. */
export function certifyFailure(err: unknown): CertifyForwardError {
  if (err instanceof CertifyForwardError) return err;
  if (err instanceof MalformedEventError) return malformedReply(err.message, err);
  if (err instanceof SchemaValidationError) return invalid(err.message);
  if (err instanceof NatsError) {
    const message = NO_ANSWER.has(err.code)
      ? 'no identity service answered; retry, possibly through another gateway'
      : `the bus cannot carry the request (${err.message}); retry, possibly through another gateway`;
    return new CertifyForwardError(status.UNAVAILABLE, CertifyForwardErrorCode.IdentityUnavailable, message, { cause: err });
  }
  return new CertifyForwardError(status.INTERNAL, 'Internal', `certify failed: ${errorMessage(err)}`, { cause: err });
}

/** Milliseconds left to wait: the configured timeout, or less if the proxy's deadline is nearer. */
export function requestTimeoutMs(deadline: Deadline, timeoutMs: number, nowMs: number): number {
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return Math.min(timeoutMs, deadlineMs - nowMs);
}

interface CertifyMetrics {
  requests: Counter<'code'>;
  duration: Histogram<'code'>;
  invalid: Counter<'reason'>;
}

const metricsByRegistry = new WeakMap<Registry, CertifyMetrics>();

function certifyMetrics(registry: Registry | undefined): CertifyMetrics {
  const existing = registry && metricsByRegistry.get(registry);
  if (existing) return existing;
  const registers = registry ? [registry] : [];
  const metrics: CertifyMetrics = {
    requests: new Counter({
      name: 'meshbus_gateway_certify_total',
      help: 'Certify calls answered by the gateway, by gRPC status.',
      labelNames: ['code'],
      registers,
    }),
    duration: new Histogram({
      name: 'meshbus_gateway_certify_duration_seconds',
      help: 'Time from receiving a Certify call to answering it, by gRPC status.',
      labelNames: ['code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    invalid: new Counter({
      name: 'meshbus_gateway_certify_invalid_requests_total',
      help: 'Certify calls refused by the gateway with INVALID_ARGUMENT, by reason: undecodable (not a protobuf CertifyRequest) or field (a missing or oversized field).',
      labelNames: ['reason'],
      registers,
    }),
  };
  if (registry) metricsByRegistry.set(registry, metrics);
  return metrics;
}

/**
 * The gRPC `io.linkerd.proxy.identity.Identity` service of the gateway: each Certify call is
 * checked, sent as a `certifyRequest` CloudEvent to whichever identity replica of the queue group
 * takes it, and answered with the replica's certificate or refusal. A missing or silent identity
 * service gives UNAVAILABLE, which proxies retry.
 */
export function createIdentityHandler(options: IdentityHandlerOptions): IdentityForwarder {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CERTIFY_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ConfigError(`identity timeout must be a positive number of milliseconds, got ${timeoutMs}`);
  const { nc, validator, source } = options;
  const logger = options.logger.child({ component: 'identity-forwarder' });
  const metrics = certifyMetrics(options.registry);

  async function forward(request: identity.CertifyRequest, deadline: Deadline): Promise<identity.CertifyResponse> {
    const data = toBusCertifyRequest(request);
    const timeout = requestTimeoutMs(deadline, timeoutMs, Date.now());
    if (timeout <= 0) {
      throw new CertifyForwardError(status.DEADLINE_EXCEEDED, CertifyForwardErrorCode.DeadlineExceeded, 'the call deadline passed before the request was forwarded');
    }
    const { headers, payload } = encodeEvent('certifyRequest', subjects.certify, data, { source, subject: data.identity }, validator);
    const reply = await nc.request(subjects.certify, payload, { headers, timeout });
    return fromBusCertifyReply(decodeEvent(reply.subject, reply.headers, reply.data, validator));
  }

  function finish(code: status, startedMs: number): void {
    const label = status[code] ?? String(code);
    metrics.requests.inc({ code: label });
    metrics.duration.observe({ code: label }, (performance.now() - startedMs) / 1000);
  }

  function refuse(callback: sendUnaryData<identity.CertifyResponse>, failure: CertifyForwardError): void {
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_TRAILER, failure.code);
    callback({ code: failure.grpcCode, details: failure.message, metadata }, null);
  }

  return {
    certify(call: ServerUnaryCall<ReceivedCertifyRequest, identity.CertifyResponse>, callback: sendUnaryData<identity.CertifyResponse>) {
      const startedMs = performance.now();
      const { request } = call;
      if (request instanceof UndecodableCertifyRequest) {
        const failure = invalid(
          `the request (${request.byteLength} bytes) is not a protobuf io.linkerd.proxy.identity.CertifyRequest: ${request.reason}; ` +
            'send identity, token and certificate_signing_request in that message',
        );
        finish(failure.grpcCode, startedMs);
        metrics.invalid.inc({ reason: 'undecodable' });
        logger.warn({ peer: call.getPeer(), bytes: request.byteLength, reason: request.reason, code: failure.code }, 'undecodable Certify request refused');
        refuse(callback, failure);
        return;
      }
      const name = request.identity.slice(0, certifyRequestLimits.maxIdentityLength);
      forward(request, call.getDeadline()).then(
        (response) => {
          finish(status.OK, startedMs);
          logger.debug({ identity: name, validUntil: response.validUntil?.toISOString() }, 'certificate issued');
          callback(null, response);
        },
        (err: unknown) => {
          const failure = certifyFailure(err);
          finish(failure.grpcCode, startedMs);
          if (failure.code === CertifyForwardErrorCode.InvalidCertifyRequest) metrics.invalid.inc({ reason: 'field' });
          const fields = { identity: name, code: failure.code, grpcCode: status[failure.grpcCode] };
          if (failure.grpcCode === status.UNAVAILABLE || failure.grpcCode === status.INTERNAL) {
            logger.warn({ ...fields, err: failure.cause ?? failure }, failure.message);
          } else {
            logger.info(fields, `certify refused: ${failure.message}`);
          }
          refuse(callback, failure);
        },
      );
    },
  };
}
