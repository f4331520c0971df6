import type { MsgHdrs } from 'nats';
import { decodeEvent, MalformedEventError } from '@meshbus/bus';
import {
  catalog,
  subjects,
  type BusValidator,
  type WorkloadDeregisterRequest,
  type WorkloadHeartbeatRequest,
  type WorkloadRegisterRequest,
  type WorkloadRegistration,
  type WorkloadRegistrationReply,
} from '@meshbus/bus-schemas';
import { errorMessage, MeshbusError } from '@meshbus/runtime';
import { TokenRejectedError, TokenReviewUnavailableError, WorkloadTokenError, type ServiceAccountRef, type TokenValidator } from '@meshbus/trust';

/** What a workload asks of the destination replicas. */
export type RegistrationOperation = 'register' | 'heartbeat' | 'deregister';

/** Every operation, for iteration. */
export const registrationOperations: readonly RegistrationOperation[] = ['register', 'heartbeat', 'deregister'];

/** Stable codes of an error reply (the `code` enum of workload-registration-reply.schema.json). */
export type RegistrationErrorCode = Extract<WorkloadRegistrationReply, { error: unknown }>['error']['code'];

const retryableCodes: ReadonlySet<RegistrationErrorCode> = new Set(['NotLeader', 'Unavailable']);

/** A request refused: the reply names the code, what to fix and, when one is at fault, the field. */
export class RegistrationRequestError extends MeshbusError {
  override name = 'RegistrationRequestError';
  declare readonly code: RegistrationErrorCode;

  constructor(
    code: RegistrationErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** True when the same request may succeed later. */
  get retryable(): boolean {
    return retryableCodes.has(this.code);
  }
}

/** A decoded, schema-valid request. The token is kept out of logs: log {@link describeRequest}. */
export type WorkloadRequest =
  | { operation: 'register'; id: string; token: string; namespace: string; name: string; registration: WorkloadRegistration }
  | { operation: 'heartbeat'; id: string; token: string; namespace: string; name: string }
  | { operation: 'deregister'; id: string; token: string; namespace: string; name: string; reason: string };

const kindOf = {
  register: 'workloadRegisterRequest',
  heartbeat: 'workloadHeartbeatRequest',
  deregister: 'workloadDeregisterRequest',
} as const;

/** The public subject of each operation. */
export function operationSubject(operation: RegistrationOperation): string {
  return operation === 'register' ? subjects.workloadRegister : operation === 'heartbeat' ? subjects.workloadHeartbeat : subjects.workloadDeregister;
}

/** Longest message put in a reply: decoding errors may quote header values, which the caller chose. */
const maxMessageLength = 512;

function clip(text: string): string {
  return text.length <= maxMessageLength ? text : `${text.slice(0, maxMessageLength - 1)}…`;
}

/** The JSON pointer at the start of the first schema problem (`/registration/zone must …`). */
function fieldOf(problem: string | undefined): string | undefined {
  const pointer = problem?.split(' ', 1)[0];
  return pointer?.startsWith('/') ? pointer.slice(0, 256) : undefined;
}

/**
 * Decodes a request CloudEvent received for `operation` and checks it against its schema.
 * Throws {@link RegistrationRequestError} `InvalidRequest`, naming the field at fault; never
 * returns unvalidated data, whatever the headers and body are.
 */
export function decodeWorkloadRequest(operation: RegistrationOperation, headers: MsgHdrs | undefined, data: Uint8Array, validator: BusValidator): WorkloadRequest {
  const expected = kindOf[operation];
  let event;
  try {
    event = decodeEvent(operationSubject(operation), headers, data, validator);
  } catch (error) {
    if (error instanceof MalformedEventError) {
      const problems = error.reason === 'schema' ? error.message.replace(/^data does not match schema [^:]+: /, '') : error.message;
      const field = error.reason === 'schema' ? fieldOf(problems) : undefined;
      throw new RegistrationRequestError('InvalidRequest', clip(`the ${operation} request is not valid: ${problems}`), field);
    }
    throw new RegistrationRequestError('InvalidRequest', clip(`the ${operation} request cannot be read: ${errorMessage(error)}`));
  }
  if (event.kind !== expected) {
    throw new RegistrationRequestError('InvalidRequest', clip(`expected a CloudEvent of type ${catalog[expected].type} on ${operationSubject(operation)}, got ${event.type}`));
  }
  switch (operation) {
    case 'register': {
      const { token, registration } = event.data as WorkloadRegisterRequest;
      return { operation, id: event.id, token, namespace: registration.namespace, name: registration.name, registration: stateOf(registration) };
    }
    case 'heartbeat': {
      const { token, namespace, name } = event.data as WorkloadHeartbeatRequest;
      return { operation, id: event.id, token, namespace, name };
    }
    case 'deregister': {
      const { token, namespace, name, reason } = event.data as WorkloadDeregisterRequest;
      return { operation, id: event.id, token, namespace, name, reason: reason ?? 'workload deregistered' };
    }
  }
}

/** The registration as stored, keys in a stable order so that equal registrations compare equal. */
function stateOf(r: WorkloadRegisterRequest['registration']): WorkloadRegistration {
  const out: WorkloadRegistration = {
    namespace: r.namespace,
    name: r.name,
    address: r.address,
    ports: r.ports.map((p) => (p.name !== undefined ? { name: p.name, port: p.port } : { port: p.port })) as WorkloadRegistration['ports'],
    heartbeatIntervalMs: r.heartbeatIntervalMs,
  };
  if (r.labels !== undefined) out.labels = Object.fromEntries(Object.entries(r.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (r.serviceAccount !== undefined) out.serviceAccount = r.serviceAccount;
  if (r.ready !== undefined) out.ready = r.ready;
  if (r.meshed !== undefined) out.meshed = r.meshed;
  if (r.zone !== undefined) out.zone = r.zone;
  if (r.weight !== undefined) out.weight = r.weight;
  if (r.opaquePorts !== undefined) out.opaquePorts = [...r.opaquePorts].sort((a, b) => a - b);
  return out;
}

/** What may be logged about a request (never its token). */
export function describeRequest(request: WorkloadRequest): { operation: RegistrationOperation; requestId: string; workload: string } {
  return { operation: request.operation, requestId: request.id, workload: `${request.namespace}/${request.name}` };
}

const encoder = new TextEncoder();

/**
 * Authenticates the request's token. Throws `Unauthenticated` when it proves no service account,
 * `Unavailable` when the authority could not be asked (TokenReview), `RegistrationDisabled`
 * when this replica has no way to check tokens.
 */
export async function authenticateRequest(request: WorkloadRequest, tokens: TokenValidator | undefined): Promise<ServiceAccountRef> {
  if (!tokens) {
    throw new RegistrationRequestError(
      'RegistrationDisabled',
      'workload registration is disabled on this destination: it has no token key (set MESHBUS_TOKEN_PUBLIC_KEY, or MESHBUS_TOKEN_VALIDATION=kubernetes)',
    );
  }
  try {
    return await tokens.validate(encoder.encode(request.token));
  } catch (error) {
    if (error instanceof TokenReviewUnavailableError) {
      throw new RegistrationRequestError('Unavailable', clip(`the token could not be checked: ${error.message}; retry`), undefined, { cause: error });
    }
    if (error instanceof TokenRejectedError || error instanceof WorkloadTokenError) {
      throw new RegistrationRequestError('Unauthenticated', clip(`the token was refused (${error.code}): ${error.message}`), '/token', { cause: error });
    }
    throw new RegistrationRequestError('Internal', clip(`the token could not be checked: ${errorMessage(error)}`), undefined, { cause: error });
  }
}

/**
 * Checks that `caller` may do what the request asks, given the registration already stored
 * under the same name (if any). The caller's namespace must be the workload's; its service
 * account must be the one the workload registers with, and the one it was registered with.
 * Throws `PermissionDenied` naming the field.
 */
export function authorizeRequest(request: WorkloadRequest, caller: ServiceAccountRef, stored: WorkloadRegistration | undefined): void {
  const key = `${request.namespace}/${request.name}`;
  const nsField = request.operation === 'register' ? '/registration/namespace' : '/namespace';
  if (caller.namespace !== request.namespace) {
    throw new RegistrationRequestError(
      'PermissionDenied',
      `the token is for service account ${caller.namespace}/${caller.serviceAccount}; it cannot act for workload ${key} in namespace ${request.namespace}`,
      nsField,
    );
  }
  if (request.operation === 'register') {
    const wanted = request.registration.serviceAccount ?? 'default';
    if (caller.serviceAccount !== wanted) {
      throw new RegistrationRequestError(
        'PermissionDenied',
        `the token is for service account ${caller.serviceAccount}, but ${key} registers with service account ${wanted}; use a token for ${wanted}`,
        '/registration/serviceAccount',
      );
    }
  }
  if (stored) {
    const owner = stored.serviceAccount ?? 'default';
    if (caller.serviceAccount !== owner) {
      throw new RegistrationRequestError(
        'PermissionDenied',
        `${key} is registered with service account ${owner}; a token for ${caller.serviceAccount} cannot change it (deregister it with a token for ${owner} first)`,
        request.operation === 'register' ? '/registration/serviceAccount' : '/token',
      );
    }
  }
}

/** The error reply of a failure; anything that is not a {@link RegistrationRequestError} is Internal. */
export function errorReply(error: unknown): WorkloadRegistrationReply {
  if (error instanceof RegistrationRequestError) {
    return { error: { code: error.code, message: clip(error.message), retryable: error.retryable, ...(error.field !== undefined ? { field: error.field } : {}) } };
  }
  return { error: { code: 'Internal', message: clip(`the destination failed to handle the request: ${errorMessage(error)}`), retryable: true } };
}
