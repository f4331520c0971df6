import { ErrorCode, type NatsConnection, type NatsError } from 'nats';
import { busValidator, subjects, type BusValidator, type EventDataMap, type WorkloadRegistrationReply } from '@meshbus/bus-schemas';
import { errorMessage, MeshbusError } from '@meshbus/runtime';
import { decodeEvent, encodeEvent } from './cloudevents.js';

/** The kinds of registration request a workload sends. */
export type RegistrationRequestKind = 'workloadRegisterRequest' | 'workloadHeartbeatRequest' | 'workloadDeregisterRequest';

/** A successful answer of the destination. */
export type RegistrationAnswer = Exclude<WorkloadRegistrationReply, { error: unknown }>;

/**
 * The destination refused a request or could not be reached. `code` is the reply's stable code
 * (InvalidRequest, Unauthenticated, PermissionDenied, NotRegistered, NotLeader, Unavailable,
 * RegistrationDisabled, Internal); `retryable` says whether the same request may succeed later.
 */
export class WorkloadRegistrationError extends MeshbusError {
  override name = 'WorkloadRegistrationError';

  constructor(
    code: string,
    message: string,
    readonly retryable: boolean,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Sends one registration request and returns the destination's answer, or throws {@link WorkloadRegistrationError}. */
export interface RegistrationTransport {
  request<K extends RegistrationRequestKind>(kind: K, data: EventDataMap[K]): Promise<RegistrationAnswer>;
}

/** Options of {@link NatsRegistrationTransport}. */
export interface NatsRegistrationTransportOptions {
  nc: NatsConnection;
  /** CloudEvents `source` of the requests, e.g. `/meshbus/register/<host>`. */
  source: string;
  /** @default the process-wide validator */
  validator?: BusValidator;
  /** How long to wait for an answer. @default 5000 */
  timeoutMs?: number;
}

const subjectOf: Record<RegistrationRequestKind, string> = {
  workloadRegisterRequest: subjects.workloadRegister,
  workloadHeartbeatRequest: subjects.workloadHeartbeat,
  workloadDeregisterRequest: subjects.workloadDeregister,
};

function keyOf(data: EventDataMap[RegistrationRequestKind]): string {
  const { namespace, name } = 'registration' in data ? data.registration : data;
  return `${namespace}/${name}`;
}

/** Registration requests as NATS request/reply to the destination's queue group. */
export class NatsRegistrationTransport implements RegistrationTransport {
  private readonly validator: BusValidator;

  constructor(private readonly options: NatsRegistrationTransportOptions) {
    this.validator = options.validator ?? busValidator();
  }

  async request<K extends RegistrationRequestKind>(kind: K, data: EventDataMap[K]): Promise<RegistrationAnswer> {
    const subject = subjectOf[kind];
    let encoded;
    try {
      encoded = encodeEvent(kind, subject, data, { source: this.options.source, subject: keyOf(data) }, this.validator);
    } catch (error) {
      throw new WorkloadRegistrationError('InvalidRequest', `the request is not valid: ${errorMessage(error)}`, false, undefined, { cause: error });
    }
    const timeout = this.options.timeoutMs ?? 5000;
    let answer;
    try {
      answer = await this.options.nc.request(subject, encoded.payload, { headers: encoded.headers, timeout });
    } catch (error) {
      throw transportError(error, subject, timeout);
    }
    let reply: WorkloadRegistrationReply;
    try {
      const event = decodeEvent(answer.subject, answer.headers, answer.data, this.validator);
      if (event.kind !== 'workloadRegistrationReply') throw new Error(`got ${event.type}`);
      reply = event.data as WorkloadRegistrationReply;
    } catch (error) {
      throw new WorkloadRegistrationError('Unavailable', `the answer on ${subject} is not a registration reply (${errorMessage(error)})`, true, undefined, { cause: error });
    }
    if ('error' in reply) throw new WorkloadRegistrationError(reply.error.code, reply.error.message, reply.error.retryable, reply.error.field);
    return reply;
  }
}

function transportError(error: unknown, subject: string, timeoutMs: number): WorkloadRegistrationError {
  const code = (error as NatsError).code;
  if (code === ErrorCode.NoResponders) {
    return new WorkloadRegistrationError('Unavailable', `no destination replica answers on ${subject}: is the destination service running?`, true, undefined, { cause: error });
  }
  if (code === ErrorCode.Timeout) {
    return new WorkloadRegistrationError('Unavailable', `no answer on ${subject} within ${timeoutMs} ms`, true, undefined, { cause: error });
  }
  if (code === ErrorCode.PermissionsViolation) {
    return new WorkloadRegistrationError('PermissionDenied', `NATS does not let this login publish to ${subject}: log in as the workload user`, false, undefined, { cause: error });
  }
  return new WorkloadRegistrationError('Unavailable', `the request on ${subject} failed: ${errorMessage(error)}`, true, undefined, { cause: error });
}
