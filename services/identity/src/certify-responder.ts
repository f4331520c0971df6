import { createRequire } from 'node:module';
import type { Msg, NatsConnection, NatsError, Service, ServiceMsg } from 'nats';
import { busServices, subjects, type BusValidator, type CertifyRequest, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent, encodeEvent, MalformedEventError, type BusMetrics } from '@meshbus/bus';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { GrpcStatus } from '@meshbus/trust';
import type { CertifyHandler, CertifyOutcome } from './certify-handler.js';
import type { IdentityMetrics } from './identity-metrics.js';

/** The queue group every identity replica answers certificate requests in. */
export const CERTIFY_QUEUE_GROUP = busServices.identity.queue;

/** Name of the certify endpoint in the identity service's NATS services API description. */
export const CERTIFY_ENDPOINT = 'certify';

const { version: SERVICE_VERSION } = createRequire(import.meta.url)('../package.json') as { version: string };

/** A request message as the responder needs it; a NATS `Msg` is one. */
export type CertifyMessage = Pick<Msg, 'subject' | 'reply' | 'headers' | 'data' | 'respond'>;

/** The part of a NATS connection the responder uses; a {@link NatsConnection} fits. */
export type ServicesConnection = Pick<NatsConnection, 'services'>;

/** Options of {@link CertifyResponder}. */
export interface CertifyResponderOptions {
  readonly handler: CertifyHandler;
  readonly validator: BusValidator;
  /** CloudEvents `source` of the replies: `/meshbus/identity/<replica>`. */
  readonly source: string;
  readonly logger: Logger;
  readonly metrics: Pick<IdentityMetrics, 'certificates'>;
  readonly busMetrics?: Pick<BusMetrics, 'rejected'>;
  /** Called after a certificate was signed and the reply sent. */
  readonly onIssued?: (outcome: Extract<CertifyOutcome, { ok: true }>) => void;
  /** Requests handled at once by this replica; more wait in arrival order. @default 64 */
  readonly maxInFlight?: number;
  /** Sent as the service's metadata in `$SRV.INFO` and `$SRV.PING` replies, such as `{ replica }`. */
  readonly serviceMetadata?: Readonly<Record<string, string>>;
}

/**
 * The figures `$SRV.STATS` reports for the certify endpoint, beyond nats.js's own request count.
 * Field names follow the services API's JSON.
 */
export interface CertifyEndpointData {
  /** Requests being answered right now. */
  readonly in_flight: number;
  /** Requests received and waiting for a free slot. */
  readonly waiting: number;
  /** Certificates issued since the service started. */
  readonly issued: number;
}

interface AnswerResult {
  readonly error?: string;
}

/**
 * The NATS side of certificate requests, as the `meshbus-identity` service of the NATS services
 * API: replicas share requests through the queue group and answer `$SRV.PING`, `$SRV.INFO` and
 * `$SRV.STATS`. Each request CloudEvent is decoded, answered by the {@link CertifyHandler}, and
 * replied to with a CloudEvent. A request that is not a valid CloudEvent gets an INVALID_ARGUMENT
 * reply; nothing a caller sends stops the responder.
 */
export class CertifyResponder {
  private service: Service | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly waiting: { msg: CertifyMessage; receivedNs: bigint }[] = [];
  private readonly maxInFlight: number;
  private errors = 0;
  private lastError: string | undefined;
  private answered = 0;
  private issued = 0;
  private processingNs = 0;

  constructor(private readonly options: CertifyResponderOptions) {
    this.maxInFlight = options.maxInFlight ?? 64;
  }

  /** Registers the service and joins the queue group on `subjects.certify`. */
  async start(nc: ServicesConnection): Promise<void> {
    const { logger } = this.options;
    const service = await nc.services.add({
      name: busServices.identity.name,
      version: SERVICE_VERSION,
      description: 'meshbus identity: signs workload leaf certificates for CSRs forwarded by the gateways',
      queue: busServices.identity.queue,
      ...(this.options.serviceMetadata === undefined ? {} : { metadata: { ...this.options.serviceMetadata } }),
      statsHandler: (endpoint) => Promise.resolve(this.endpointStats(endpoint)),
    });
    this.service = service;
    service.addEndpoint(CERTIFY_ENDPOINT, {
      subject: subjects.certify,
      handler: (error, msg) => this.receive(error, msg),
    });
    void service.stopped.then((error) => {
      if (error && this.service === service) {
        logger.error({ error: errorMessage(error) }, 'the certify service stopped; this replica answers no more certificate requests');
      }
    });
    logger.info({ natsService: busServices.identity.name, natsServiceId: service.info().id, subject: subjects.certify, queue: CERTIFY_QUEUE_GROUP }, 'answering certificate requests');
  }

  /** Stops taking requests, answers those already received, and returns once all replies are sent. */
  async drain(): Promise<void> {
    const service = this.service;
    if (!service) return;
    this.service = undefined;
    const error = await service.stop().catch((stopError: unknown) => stopError);
    if (error) this.options.logger.warn({ error: errorMessage(error) }, 'stopping the certify service failed');
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** Answers one request message. Never rejects. */
  async answer(msg: CertifyMessage): Promise<void> {
    await this.answerCounted(msg, process.hrtime.bigint());
  }

  private receive(error: NatsError | null, msg: ServiceMsg): void {
    if (error) {
      this.options.logger.error({ error: errorMessage(error) }, 'the certify subscription failed');
      return;
    }
    const receivedNs = process.hrtime.bigint();
    if (this.inFlight.size >= this.maxInFlight) this.waiting.push({ msg, receivedNs });
    else this.launch(msg, receivedNs);
  }

  private launch(msg: CertifyMessage, receivedNs: bigint): void {
    const answering: Promise<void> = this.answerCounted(msg, receivedNs).finally(() => {
      this.inFlight.delete(answering);
      const next = this.waiting.shift();
      if (next) this.launch(next.msg, next.receivedNs);
    });
    this.inFlight.add(answering);
  }

  private async answerCounted(msg: CertifyMessage, receivedNs: bigint): Promise<void> {
    const result = await this.answerOne(msg);
    this.answered++;
    this.processingNs += Number(process.hrtime.bigint() - receivedNs);
    if (result.error !== undefined) {
      this.errors++;
      this.lastError = result.error;
    }
  }

  private async answerOne(msg: CertifyMessage): Promise<AnswerResult> {
    const { logger } = this.options;
    if (!msg.reply) {
      this.options.metrics.certificates.inc({ result: 'NoReplySubject' });
      logger.warn({ subject: msg.subject }, 'certificate request without a reply subject ignored');
      return { error: 'NoReplySubject: request without a reply subject' };
    }
    let requestId: string | undefined;
    let key = 'unknown';
    let outcome: CertifyOutcome | undefined;
    try {
      const event = decodeEvent(msg.subject, msg.headers, msg.data, this.options.validator);
      if (event.kind !== 'certifyRequest') {
        throw new MalformedEventError('unknown-type', `expected a certify request, got ${event.type}`);
      }
      requestId = event.id;
      const request = event.data as CertifyRequest;
      key = request.identity;
      outcome = await this.options.handler.certify(request);
    } catch (error) {
      const reason = error instanceof MalformedEventError ? error.reason : 'internal';
      this.options.busMetrics?.rejected.inc({ reason, stream: 'identity.certify' });
      this.options.metrics.certificates.inc({ result: 'MalformedEvent' });
      logger.warn({ reason, bytes: msg.data.length, error: errorMessage(error) }, 'malformed certificate request');
      const message = `malformed certificate request: ${errorMessage(error)}`;
      this.reply(msg, key, { error: { grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'MalformedEvent', message } });
      return { error: `MalformedEvent: ${message}` };
    }
    this.reply(msg, key, outcome.response);
    if (outcome.ok) {
      this.issued++;
      this.options.metrics.certificates.inc({ result: 'ok' });
      logger.info(
        { requestId, identity: outcome.identity, serial: outcome.issued.serial, notAfter: outcome.issued.validUntil.toISOString() },
        'certificate issued',
      );
      try {
        this.options.onIssued?.(outcome);
      } catch (error) {
        logger.warn({ error: errorMessage(error) }, 'certificate-issued hook failed');
      }
      return {};
    }
    const { failure } = outcome;
    this.options.metrics.certificates.inc({ result: failure.code });
    if (failure.grpcCode === GrpcStatus.INTERNAL) {
      logger.error({ requestId, identity: key, err: outcome.cause }, 'certificate request failed');
    } else {
      logger.warn({ requestId, identity: key, grpcCode: failure.grpcCode, code: failure.code, error: failure.message }, 'certificate request refused');
    }
    return { error: `${failure.code}: ${failure.message}` };
  }

  private reply(msg: CertifyMessage, key: string, response: CertifyResponse): void {
    try {
      const { headers, payload } = encodeEvent('certifyResponse', msg.reply!, response, { source: this.options.source, subject: key }, this.options.validator);
      msg.respond(payload, { headers });
    } catch (error) {
      this.options.logger.error({ replySubject: msg.reply, error: errorMessage(error) }, 'cannot send certificate reply');
    }
  }

  /**
   * nats.js times a handler only until it returns and counts an error only when it throws. Answers
   * here finish later and refusals are replies, so the endpoint's error count and processing time
   * are set from this responder's own figures; the request count stays nats.js's.
   */
  private endpointStats(endpoint: unknown): CertifyEndpointData {
    const stats = (endpoint as { stats?: Record<string, unknown> }).stats;
    if (stats && typeof stats.num_errors === 'number' && typeof stats.processing_time === 'number') {
      stats.num_errors = this.errors;
      stats.last_error = this.lastError;
      stats.processing_time = this.processingNs;
      stats.average_processing_time = this.answered === 0 ? 0 : Math.round(this.processingNs / this.answered);
    }
    return { in_flight: this.inFlight.size, waiting: this.waiting.length, issued: this.issued };
  }
}
