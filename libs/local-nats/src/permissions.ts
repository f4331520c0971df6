import { MeshbusError } from '@meshbus/runtime';

/** The NATS users of a meshbus installation, one per kind of client. */
export const natsRoles = ['destination', 'gateway', 'identity', 'workload', 'reader'] as const;
export type NatsRole = (typeof natsRoles)[number];

/** A user or password that cannot be written into a nats-server configuration. */
export class NatsAuthorizationError extends MeshbusError {
  override name = 'NatsAuthorizationError';
  constructor(message: string) {
    super('InvalidNatsAuthorization', message);
  }
}

/** What one user may publish and subscribe to. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /** Lets the user answer requests it received, on their reply subjects only. */
  allowResponses?: boolean;
}

/** One user of the generated `authorization` block. */
export interface NatsUser {
  user: string;
  password: string;
  role: NatsRole;
}

const stateStream = 'MESHBUS_STATE';
const eventsStream = 'MESHBUS_EVENTS';
const leaseBucket = 'meshbus-leases';
const leaseStream = `KV_${leaseBucket}`;
const api = '$JS.API';

/** `jetstreamManager()` asks for the account info unless told not to. */
const accountInfo = `${api}.INFO`;
/** `js.subscribe()` without a bound stream looks the stream up by subject. */
const streamNames = `${api}.STREAM.NAMES`;

const streamInfo = (s: string) => `${api}.STREAM.INFO.${s}`;
const streamWrite = (s: string) => [`${api}.STREAM.CREATE.${s}`, `${api}.STREAM.UPDATE.${s}`];
const messageGet = (s: string) => [`${api}.STREAM.MSG.GET.${s}`, `${api}.DIRECT.GET.${s}`, `${api}.DIRECT.GET.${s}.>`];
/**
 * An ordered push consumer: nats.js creates it (named or not, with or without
 * a filter in the subject), reads its info and deletes it when it resets.
 */
const orderedConsumer = (s: string) => [
  `${api}.CONSUMER.CREATE.${s}`,
  `${api}.CONSUMER.CREATE.${s}.>`,
  `${api}.CONSUMER.INFO.${s}.*`,
  `${api}.CONSUMER.DELETE.${s}.*`,
];

/** Replies of a client: JetStream acks, API answers and deliveries of push consumers. */
const inbox = '_INBOX.>';
/** Flow-control answers of ordered consumers, which have flow control on. */
const flowControl = '$JS.FC.>';
const acks = '$JS.ACK.>';

/** Reads the state and event streams from any position. */
const streamReading = [accountInfo, streamNames, ...[stateStream, eventsStream].flatMap((s) => [streamInfo(s), ...orderedConsumer(s), ...messageGet(s)]), flowControl];
/** What `ensureStreams` does: look the streams up, create or update them. */
const streamSetup = [stateStream, eventsStream].flatMap((s) => [streamInfo(s), ...streamWrite(s)]);
/** The leader-election lease bucket: create it, read and compare-and-set keys. */
const leases = [streamInfo(leaseStream), ...streamWrite(leaseStream), ...messageGet(leaseStream), `$KV.${leaseBucket}.>`];

/**
 * Least-privilege permissions per role. Everything not listed is denied; none
 * of them may delete or purge a stream, or delete a message.
 */
export function rolePermissions(role: NatsRole): NatsPermissions {
  switch (role) {
    case 'destination':
      return {
        publish: unique([
          ...streamReading,
          ...streamSetup,
          ...leases,
          acks,
          'meshbus.v1.state.endpoints.>',
          'meshbus.v1.state.profiles.>',
          'meshbus.v1.state.workloads.>',
          'meshbus.v1.events.manifest.>',
          'meshbus.v1.events.leader.>',
          'meshbus.v1.events.workload.>',
          'meshbus.v1.events.publish.>',
        ]),
        subscribe: [inbox],
      };
    case 'gateway':
      // The gateway does not run ensureStreams (MESHBUS_ENSURE_STREAMS=false):
      // it waits until a writer has created the streams.
      return { publish: unique([...streamReading, 'meshbus.v1.identity.certify']), subscribe: [inbox] };
    case 'identity':
      return {
        publish: unique([
          ...streamReading,
          ...streamSetup,
          acks,
          'meshbus.v1.state.trust-bundle.>',
          'meshbus.v1.events.identity.>',
        ]),
        // Only as a member of the queue group, so a stray identity client cannot see every CSR twice.
        subscribe: [inbox, 'meshbus.v1.identity.certify meshbus-identity'],
        allowResponses: true,
      };
    case 'workload':
      return { publish: [accountInfo, streamInfo(stateStream), 'meshbus.v1.state.workloads.>'], subscribe: [inbox] };
    case 'reader':
      return { publish: streamReading, subscribe: [inbox] };
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

const safeText = /^[A-Za-z0-9_.\-]{1,128}$/;

function quote(s: string): string {
  return `"${s}"`;
}

function list(xs: readonly string[], indent: string): string {
  return `[\n${xs.map((x) => `${indent}  ${quote(x)}`).join(',\n')}\n${indent}]`;
}

/**
 * The nats-server (2.9) `authorization { users = [...] }` block giving each
 * user the permissions of its role.
 */
export function natsAuthorizationConfig(users: readonly NatsUser[]): string {
  const seen = new Set<string>();
  const blocks = users.map((u) => {
    if (!safeText.test(u.user)) throw new NatsAuthorizationError(`NATS user ${JSON.stringify(u.user)}: use letters, digits, '.', '_' and '-' only`);
    if (!safeText.test(u.password)) throw new NatsAuthorizationError(`password of NATS user ${u.user}: use letters, digits, '.', '_' and '-' only`);
    if (!natsRoles.includes(u.role)) throw new NatsAuthorizationError(`NATS user ${u.user}: unknown role ${JSON.stringify(u.role)}`);
    if (seen.has(u.user)) throw new NatsAuthorizationError(`NATS user ${u.user} is listed twice`);
    seen.add(u.user);
    const p = rolePermissions(u.role);
    const lines = [
      `    {`,
      `      user: ${quote(u.user)}`,
      `      password: ${quote(u.password)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(p.publish, '        ')} }`,
      `        subscribe: { allow: ${list(p.subscribe, '        ')} }`,
    ];
    if (p.allowResponses) lines.push(`        allow_responses: true`);
    lines.push(`      }`, `    }`);
    return lines.join('\n');
  });
  return `authorization {\n  users = [\n${blocks.join('\n')}\n  ]\n}\n`;
}
