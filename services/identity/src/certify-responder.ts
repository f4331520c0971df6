import type { Msg, NatsConnection, Subscription } from 'nats';
import { subjects, type BusValidator, type CertifyRequest, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent, encodeEvent, MalformedEventError, type BusMetrics } from '@meshbus/bus';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { GrpcStatus } from '@meshbus/trust';
import type { CertifyHandler, CertifyOutcome } from './certify-handler.js';
import type { IdentityMetrics } from './identity-metrics.js';

/** The queue group every identity replica answers certificate requests in. */
export const CERTIFY_QUEUE_GROUP = 'meshbus-identity';

/** A request message as the responder needs it; a NATS `Msg` is one. */
export type CertifyMessage = Pick<Msg, 'subject' | 'reply' | 'headers' | 'data' | 'respond'>;

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
  /** Requests handled at once by this replica; more wait in the subscription. @default 64 */
  readonly maxInFlight?: number;
}

/**
 * The NATS side of certificate requests: decodes each request CloudEvent, has the
 * {@link CertifyHandler} answer it, and replies with a CloudEvent. A request that is not a valid
 * CloudEvent gets an INVALID_ARGUMENT reply; nothing a caller sends stops the responder.
 */
export class CertifyResponder {
  private subscription: Subscription | undefined;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: CertifyResponderOptions) {}

  /** Joins the queue group on `subjects.certify`. */
  start(nc: NatsConnection): void {
    const subscription = nc.subscribe(subjects.certify, { queue: CERTIFY_QUEUE_GROUP });
    this.subscription = subscription;
    this.loop = (async () => {
      const max = this.options.maxInFlight ?? 64;
      for await (const msg of subscription) {
        const answering = this.answer(msg).finally(() => this.inFlight.delete(answering));
        this.inFlight.add(answering);
        if (this.inFlight.size >= max) await Promise.race(this.inFlight);
      }
    })();
    this.options.logger.info({ subject: subjects.certify, queue: CERTIFY_QUEUE_GROUP }, 'answering certificate requests');
  }

  /** Stops taking requests, answers those already received, and returns once all replies are sent. */
  async drain(): Promise<void> {
    const subscription = this.subscription;
    if (!subscription) return;
    this.subscription = undefined;
    if (!subscription.isClosed()) {
      await subscription.drain().catch((error: unknown) => {
        this.options.logger.warn({ error: errorMessage(error) }, 'draining the certify subscription failed');
      });
    }
    await this.loop;
    await Promise.all(this.inFlight);
  }

  /** Answers one request message. Never rejects. */
  async answer(msg: CertifyMessage): Promise<void> {
    const { logger } = this.options;
    if (!msg.reply) {
      this.options.metrics.certificates.inc({ result: 'NoReplySubject' });
      logger.warn({ subject: msg.subject }, 'certificate request without a reply subject ignored');
      return;
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
      logger.warn({ reason, error: errorMessage(error) }, 'malformed certificate request');
      const message = `malformed certificate request: ${errorMessage(error)}`;
      this.reply(msg, key, { error: { grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'MalformedEvent', message } });
      return;
    }
    this.reply(msg, key, outcome.response);
    if (outcome.ok) {
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
    } else {
      const { failure } = outcome;
      this.options.metrics.certificates.inc({ result: failure.code });
      if (failure.grpcCode === GrpcStatus.INTERNAL) {
        logger.error({ requestId, identity: key, err: outcome.cause }, 'certificate request failed');
      } else {
        logger.warn({ requestId, identity: key, grpcCode: failure.grpcCode, code: failure.code, error: failure.message }, 'certificate request refused');
      }
    }
  }

  private reply(msg: CertifyMessage, key: string, response: CertifyResponse): void {
    try {
      const { headers, payload } = encodeEvent('certifyResponse', msg.reply!, response, { source: this.options.source, subject: key }, this.options.validator);
      msg.respond(payload, { headers });
    } catch (error) {
      this.options.logger.error({ replySubject: msg.reply, error: errorMessage(error) }, 'cannot send certificate reply');
    }
  }
}
