import { ErrorCode, type Msg, type MsgHdrs, type NatsConnection, type NatsError, type Service, type Subscription } from 'nats';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { busServices, subjects, type BusValidator, type WorkloadRegistrationReply } from '@meshbus/bus-schemas';
import { Counter, errorMessage, type Logger, type Registry } from '@meshbus/runtime';
import type { ServiceAccountRef, TokenValidator } from '@meshbus/trust';
import {
  authenticateRequest,
  authorizeRequest,
  decodeWorkloadRequest,
  describeRequest,
  errorReply,
  operationSubject,
  registrationOperations,
  RegistrationRequestError,
  type RegistrationOperation,
  type WorkloadRequest,
} from './registration-request.js';
import type { WorkloadState } from './workload-state.js';

/** How long {@link RegistrationResponder.stop} waits for the service's subscriptions to drain. */
const stopGraceMs = 2000;

/** A request message as the responder needs it; a NATS `Msg` is one. */
export type RegistrationMessage = Pick<Msg, 'subject' | 'reply' | 'headers' | 'data' | 'respond'>;

/** Options of {@link RegistrationResponder}. */
export interface RegistrationResponderOptions {
  nc: NatsConnection;
  validator: BusValidator;
  /** Checks workload tokens; undefined: registration is disabled and every request says so. */
  tokens: TokenValidator | undefined;
  state: WorkloadState;
  isLeader: () => boolean;
  /** True once the bus state is read: before, the leader cannot tell a new registration from a known one. */
  ready: () => boolean;
  replicaId: string;
  /** CloudEvents `source` of the replies. */
  source: string;
  /** Version reported by `$SRV.INFO`. */
  version: string;
  logger: Logger;
  registry: Registry;
  /** How long a standby waits for the leader's answer. @default 3000 */
  forwardTimeoutMs?: number;
}

/**
 * The destination's side of workload registration. Every replica is a member of the NATS
 * service `meshbus-destination` (queue group `meshbus-destination`, discoverable with
 * `$SRV.PING|INFO|STATS`) on `meshbus.v1.rpc.workloads.{register,heartbeat,deregister}`.
 *
 * Whichever replica receives a request decodes it, checks its schema and authenticates its
 * token, so a bad request is answered where it lands. The leader then authorizes it and writes
 * the state. A standby forwards the request, unchanged, to `meshbus.v1.rpc.destination.leader.*`,
 * to which only the leader subscribes, and relays the answer; the leader checks everything
 * again, trusting no forwarder. Without a leader the answer is `Unavailable` (retry).
 */
export class RegistrationResponder {
  private service: Service | undefined;
  private leaderSubscriptions: Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly requests: Counter<'operation' | 'result'>;
  private stopped = false;

  constructor(private readonly options: RegistrationResponderOptions) {
    this.requests = new Counter({
      name: 'meshbus_destination_registration_requests_total',
      help: 'Workload register, heartbeat and deregister requests answered, by operation and result (an outcome or an error code).',
      labelNames: ['operation', 'result'],
      registers: [options.registry],
    });
  }

  /** Joins the service's queue group; if leader already, takes the leader subjects too. */
  async start(): Promise<void> {
    const { nc, logger } = this.options;
    const { name, queue } = busServices.destination;
    const service = await nc.services.add({
      name,
      version: this.options.version,
      queue,
      description: 'meshbus destination: registers workloads outside Kubernetes (register, heartbeat, deregister)',
      metadata: { replica: this.options.replicaId },
    });
    this.service = service;
    // The services API stops the whole service when one of its subscriptions fails (a NATS
    // permission missing, for example); say so, since registrations are no longer answered.
    void service.stopped.then((error) => {
      if (error && !this.stopped) logger.error({ err: errorMessage(error) }, 'the registration service stopped: workload registration requests are no longer answered by this replica');
    });
    for (const operation of registrationOperations) {
      const subject = operationSubject(operation);
      service.addEndpoint(operation, {
        subject,
        metadata: { schema: `workload-${operation}-request`, reply: 'workload-registration-reply' },
        handler: (err, msg) => this.track(err, () => this.answerPublic(operation, msg)),
      });
    }
    logger.info({ natsService: name, queue, subjects: registrationOperations.map(operationSubject) }, 'answering workload registration requests');
    this.leadershipChanged();
  }

  /** Call when this replica gains or loses the lease: only the leader takes forwarded requests. */
  leadershipChanged(): void {
    if (this.stopped) return;
    const leader = this.options.isLeader();
    if (leader && this.leaderSubscriptions.length === 0) {
      this.leaderSubscriptions = registrationOperations.map((operation) =>
        this.options.nc.subscribe(subjects.destinationLeader(operation), {
          queue: `${busServices.destination.queue}-leader`,
          callback: (err, msg) => this.track(err, () => this.answerForwarded(operation, msg)),
        }),
      );
    } else if (!leader && this.leaderSubscriptions.length > 0) {
      for (const s of this.leaderSubscriptions) s.unsubscribe();
      this.leaderSubscriptions = [];
    }
  }

  /** Stops taking requests and waits for the answers in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.leaderSubscriptions) s.unsubscribe();
    this.leaderSubscriptions = [];
    // Draining waits for the server; with NATS unreachable, give up after a while rather than hang a shutdown.
    let timer: NodeJS.Timeout | undefined;
    const stopped = this.service?.stop().catch((error: unknown) => this.options.logger.warn({ err: errorMessage(error) }, 'stopping the registration service failed'));
    await Promise.race([stopped, new Promise((r) => (timer = setTimeout(r, stopGraceMs)))]);
    clearTimeout(timer);
    await Promise.all(this.inFlight);
  }

  /** Answers a request received on the public subject. Never rejects. */
  async answerPublic(operation: RegistrationOperation, msg: RegistrationMessage): Promise<void> {
    if (!msg.reply) return this.noReply(operation, msg);
    let request: WorkloadRequest | undefined;
    try {
      request = decodeWorkloadRequest(operation, msg.headers, msg.data, this.options.validator);
      const caller = await authenticateRequest(request, this.options.tokens);
      if (this.options.isLeader()) {
        this.reply(msg, operation, await this.decide(request, caller), request);
        return;
      }
    } catch (error) {
      this.reply(msg, operation, this.failure(error, request), request);
      return;
    }
    this.reply(msg, operation, await this.forward(operation, msg), request);
  }

  /** Answers a request a standby forwarded; checks it as if it came from the workload. Never rejects. */
  async answerForwarded(operation: RegistrationOperation, msg: RegistrationMessage): Promise<void> {
    if (!msg.reply) return this.noReply(operation, msg);
    let request: WorkloadRequest | undefined;
    try {
      if (!this.options.isLeader()) throw new RegistrationRequestError('NotLeader', `destination ${this.options.replicaId} is no longer the leader; retry`);
      request = decodeWorkloadRequest(operation, msg.headers, msg.data, this.options.validator);
      const caller = await authenticateRequest(request, this.options.tokens);
      this.reply(msg, operation, await this.decide(request, caller), request);
    } catch (error) {
      this.reply(msg, operation, this.failure(error, request), request);
    }
  }

  /** The leader's part: authorize against what is stored, then write. */
  private async decide(request: WorkloadRequest, caller: ServiceAccountRef): Promise<WorkloadRegistrationReply> {
    const { state } = this.options;
    if (!this.options.ready()) throw new RegistrationRequestError('Unavailable', 'the destination leader is still reading the bus state; retry');
    const { namespace, name } = request;
    authorizeRequest(request, caller, state.get(namespace, name));
    switch (request.operation) {
      case 'register': {
        const outcome = await state.put(request.registration);
        return { namespace, name, outcome, heartbeatIntervalMs: request.registration.heartbeatIntervalMs };
      }
      case 'heartbeat': {
        if (!state.renew(namespace, name)) {
          throw new RegistrationRequestError('NotRegistered', `${namespace}/${name} is not registered (it expired or was deregistered); register it again`);
        }
        const stored = state.get(namespace, name)!;
        return { namespace, name, outcome: 'renewed', heartbeatIntervalMs: stored.heartbeatIntervalMs };
      }
      case 'deregister': {
        const removed = await state.remove(namespace, name, request.reason);
        return { namespace, name, outcome: removed ? 'deregistered' : 'not-registered' };
      }
    }
  }

  /** A standby hands the request to the leader and relays its answer. */
  private async forward(operation: RegistrationOperation, msg: RegistrationMessage): Promise<WorkloadRegistrationReply> {
    const { nc, validator } = this.options;
    let answer: Msg;
    try {
      answer = await nc.request(subjects.destinationLeader(operation), msg.data, {
        timeout: this.options.forwardTimeoutMs ?? 3000,
        ...(msg.headers ? { headers: msg.headers } : {}),
      });
    } catch (error) {
      const code = (error as NatsError).code;
      const why = code === ErrorCode.NoResponders ? 'there is no destination leader at the moment (an election may be in progress)' : `the destination leader did not answer (${errorMessage(error)})`;
      return errorReply(new RegistrationRequestError('Unavailable', `${why}; retry in a few seconds`));
    }
    try {
      const event = decodeEvent(answer.subject, answer.headers, answer.data, validator);
      if (event.kind !== 'workloadRegistrationReply') throw new Error(`unexpected ${event.type}`);
      return event.data as WorkloadRegistrationReply;
    } catch (error) {
      return errorReply(new RegistrationRequestError('Unavailable', `the destination leader's answer could not be read (${errorMessage(error)}); retry`));
    }
  }

  private failure(error: unknown, request: WorkloadRequest | undefined): WorkloadRegistrationReply {
    const reply = errorReply(error);
    const { logger } = this.options;
    const context = request ? describeRequest(request) : {};
    if (error instanceof RegistrationRequestError && error.code !== 'Internal') {
      logger.warn({ ...context, code: error.code, field: error.field, error: error.message }, 'workload registration request refused');
    } else {
      logger.error({ ...context, err: errorMessage(error) }, 'workload registration request failed');
    }
    return reply;
  }

  private reply(msg: RegistrationMessage, operation: RegistrationOperation, reply: WorkloadRegistrationReply, request: WorkloadRequest | undefined): void {
    const result = 'error' in reply ? reply.error.code : reply.outcome;
    this.requests.inc({ operation, result });
    if (!('error' in reply) && request && reply.outcome !== 'renewed' && reply.outcome !== 'unchanged') {
      this.options.logger.info({ ...describeRequest(request), outcome: reply.outcome }, 'workload registration changed');
    }
    const key = request ? `${request.namespace}/${request.name}` : 'unknown';
    try {
      const { headers, payload } = encodeEvent('workloadRegistrationReply', msg.reply!, reply, { source: this.options.source, subject: key }, this.options.validator);
      if ('error' in reply) setServiceError(headers, reply.error.code, reply.error.message);
      msg.respond(payload, { headers });
    } catch (error) {
      this.options.logger.error({ replySubject: msg.reply, err: errorMessage(error) }, 'cannot send a registration reply');
    }
  }

  private noReply(operation: RegistrationOperation, msg: RegistrationMessage): void {
    this.requests.inc({ operation, result: 'NoReplySubject' });
    this.options.logger.warn({ subject: msg.subject }, 'workload registration request without a reply subject ignored');
  }

  private track(err: NatsError | null, answer: () => Promise<void>): void {
    if (err) {
      this.options.logger.warn({ err: errorMessage(err) }, 'registration subscription failed');
      return;
    }
    const answering = answer()
      .catch((error: unknown) => this.options.logger.error({ err: errorMessage(error) }, 'registration request handler failed'))
      .finally(() => this.inFlight.delete(answering));
    this.inFlight.add(answering);
  }
}

/** The NATS micro convention for errors, next to the CloudEvent, for generic service clients. */
function setServiceError(headers: MsgHdrs, code: string, message: string): void {
  headers.set('Nats-Service-Error-Code', serviceErrorStatus[code] ?? '500');
  headers.set('Nats-Service-Error', `${code}: ${message.replace(/[\r\n]/g, ' ')}`);
}

const serviceErrorStatus: Record<string, string> = {
  InvalidRequest: '400',
  Unauthenticated: '401',
  PermissionDenied: '403',
  NotRegistered: '404',
  NotLeader: '503',
  Unavailable: '503',
  RegistrationDisabled: '501',
  Internal: '500',
};
