import { natsInboxPrefix } from '@meshbus/runtime';
import { NatsAuthorizationError } from './errors.js';
import { exportsStream, linkStreamName } from './link-names.js';

export { NatsAuthorizationError } from './errors.js';

/** The NATS users of a meshbus installation, one per kind of client. */
export const natsRoles = ['destination', 'policy', 'gateway', 'identity', 'injector', 'workload', 'reader', 'tap', 'multicluster'] as const;
export type NatsRole = (typeof natsRoles)[number];


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
  /**
   * For the `multicluster` role: the clusters this one is linked to, whose
   * link streams (`MESHBUS_LINK_<CLUSTER>`) the login may set up and read;
   * for `reader`, the link streams it may read.
   */
  links?: readonly string[];
}

/** What a role's permissions depend on besides the role. */
export interface RoleOptions {
  /** The linked clusters of the `multicluster` role (see {@link NatsUser.links}). */
  readonly links?: readonly string[];
}

const stateStream = 'MESHBUS_STATE';
const eventsStream = 'MESHBUS_EVENTS';
const metricsStream = 'MESHBUS_METRICS';
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
 * An ordered push consumer. nats.js creates it, and recreates it after missed
 * heartbeats or a gap, with `CONSUMER.CREATE.<stream>` and nothing else: it
 * never asks for its info and never deletes it; the server removes it once
 * nobody listens. That subject only creates ephemeral consumers (the server
 * refuses a durable name there), so no `CONSUMER.CREATE.<stream>.<name>`
 * (which creates durables), no `DELETE`, `INFO`, `NAMES` or `LIST`: a login
 * can neither learn a consumer's name nor delete one, its own included.
 */
const orderedConsumer = (s: string) => [`${api}.CONSUMER.CREATE.${s}`];

/** Only the role itself may subscribe under its private inbox prefix. */
const inbox = (role: NatsRole) => `${natsInboxPrefix(role)}.>`;
/** Flow-control answers of ordered consumers, which have flow control on. */
const flowControl = '$JS.FC.>';
const acks = '$JS.ACK.>';

/** Discovery verbs of the NATS services API. */
const serviceVerbs = ['PING', 'INFO', 'STATS'] as const;
/** What a client may publish to discover services: `$SRV.<verb>[.<name>[.<id>]]`. */
const serviceDiscovery = serviceVerbs.flatMap((v) => [`$SRV.${v}`, `$SRV.${v}.*`, `$SRV.${v}.*.*`]);
/** What a responder built on the services API subscribes to for its own name. */
const serviceDiscoverySubjects = (name: string) => serviceVerbs.flatMap((v) => [`$SRV.${v}`, `$SRV.${v}.${name}`, `$SRV.${v}.${name}.*`]);

/** Service name and queue group of the destination replicas' request/reply endpoints. */
const destinationServiceName = 'meshbus-destination';
/** Service name and queue group of identity's certify responder. */
const identityServiceName = 'meshbus-identity';
/** Requests a workload makes of the destination replicas. */
const workloadRequestSubjects = ['meshbus.v1.rpc.workloads.register', 'meshbus.v1.rpc.workloads.heartbeat', 'meshbus.v1.rpc.workloads.deregister'] as const;
const certifySubject = 'meshbus.v1.identity.certify';
/** Requests a destination standby forwards to the leader, which alone writes workload state. */
const leaderForwardSubjects = ['meshbus.v1.rpc.destination.leader.register', 'meshbus.v1.rpc.destination.leader.heartbeat', 'meshbus.v1.rpc.destination.leader.deregister'] as const;

/** Reads the state and event streams from any position. */
const streamReading = [accountInfo, streamNames, ...[stateStream, eventsStream].flatMap((s) => [streamInfo(s), ...orderedConsumer(s), ...messageGet(s)]), flowControl];
/**
 * Reads the traffic summaries: stream info and ordered (ephemeral) consumers
 * only, no message look-ups. The services have no use for them.
 */
const metricsReading = [streamInfo(metricsStream), ...orderedConsumer(metricsStream)];
/** What `ensureStreams` does: look the streams up, create or update them. */
const streamSetup = [stateStream, eventsStream, metricsStream].flatMap((s) => [streamInfo(s), ...streamWrite(s)]);
/** A watch of lease keys: an ordered consumer on the bucket, filtered to its keys. */
const leaseWatch = [
  `${api}.CONSUMER.CREATE.${leaseStream}`,
  `${api}.CONSUMER.CREATE.${leaseStream}.*.$KV.${leaseBucket}.>`,
];
/** The leader-election lease bucket: create it, read, watch and compare-and-set keys. */
const leases = [streamInfo(leaseStream), ...streamWrite(leaseStream), ...messageGet(leaseStream), ...leaseWatch, `$KV.${leaseBucket}.>`];
/** The lease bucket as one role uses it: create it, read it, and watch and compare-and-set its own key only. */
const ownLease = (key: string) => [
  streamInfo(leaseStream),
  ...streamWrite(leaseStream),
  ...messageGet(leaseStream),
  `${api}.CONSUMER.CREATE.${leaseStream}`,
  `${api}.CONSUMER.CREATE.${leaseStream}.*.$KV.${leaseBucket}.${key}`,
  `$KV.${leaseBucket}.${key}`,
];

/** The traffic summaries the gateway publishes for the proxies: `meshbus.v1.metrics.<namespace>.<workload>` (stream MESHBUS_METRICS). */
const metricsSummarySubjects = 'meshbus.v1.metrics.*.*';

/** Tap requests of `meshbus tap`: `meshbus.v1.tap.requests.<namespace>.<workload>` (core NATS). */
const tapRequestSubjects = 'meshbus.v1.tap.requests.*.*';
/** Tapped request records the gateway forwards: `meshbus.v1.tap.events.<sessionId>` (core NATS, at most once). */
const tapEventSubjects = 'meshbus.v1.tap.events.*';

/**
 * What the multicluster service does with the streams of its own cluster:
 * MESHBUS_EXPORTS (set up, read, published to) and one link stream per linked
 * cluster (set up with its source, read). Stream names are single subject
 * tokens, so each link stream is named: no wildcard over stream names.
 */
function multiclusterStreams(links: readonly string[]): string[] {
  const names = [exportsStream, ...links.map((l) => linkStreamName(l))];
  return names.flatMap((s) => [streamInfo(s), ...streamWrite(s), ...orderedConsumer(s), ...messageGet(s)]);
}

/** What `meshbus multicluster check` and `gateways` read: MESHBUS_EXPORTS and the named link streams, no setup. */
function multiclusterReading(links: readonly string[]): string[] {
  const names = [exportsStream, ...links.map((l) => linkStreamName(l))];
  return names.flatMap((s) => [streamInfo(s), ...orderedConsumer(s), ...messageGet(s)]);
}

/**
 * Least-privilege permissions per role. Everything not listed is denied; none
 * of them may delete or purge a stream, delete a message or a consumer, or
 * create a durable consumer; each subscribes only under its own inbox prefix
 * ({@link natsInboxPrefix}) besides the requests it serves.
 */
export function rolePermissions(role: NatsRole, options: RoleOptions = {}): NatsPermissions {
  if (options.links !== undefined && options.links.length > 0 && role !== 'multicluster' && role !== 'reader') {
    throw new NatsAuthorizationError(`role ${role} has no linked clusters; only the multicluster and reader roles do`);
  }
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
          ...leaderForwardSubjects,
          'meshbus.v1.events.publish.>',
        ]),
        // Queue-group members only, so that a stray login cannot see every registration.
        subscribe: [
          inbox(role),
          ...workloadRequestSubjects.map((s) => `${s} ${destinationServiceName}`),
          ...leaderForwardSubjects.map((s) => `${s} ${destinationServiceName}-leader`),
          ...serviceDiscoverySubjects(destinationServiceName),
        ],
        allowResponses: true,
      };
    case 'policy':
      return {
        publish: unique([
          ...streamReading,
          ...streamSetup,
          ...ownLease('policy'),
          acks,
          'meshbus.v1.state.inbound-policy.>',
          'meshbus.v1.state.outbound-policy.>',
          'meshbus.v1.state.policy-defaults.>',
          'meshbus.v1.state.policy-status.>',
          'meshbus.v1.events.policy.>',
          'meshbus.v1.events.leader.policy',
          'meshbus.v1.events.publish.failed',
        ]),
        subscribe: [inbox(role)],
      };
    case 'gateway':
      // The gateway does not run ensureStreams (MESHBUS_ENSURE_STREAMS=false):
      // it waits until a writer has created the streams.
      // It publishes the proxies' traffic summaries (core publish, no acknowledgement, into MESHBUS_METRICS)
      // and no event; it does not read the summaries.
      // It takes tap requests (every replica: no queue group, each proxy is connected to one) and publishes tapped records.
      return { publish: unique([...streamReading, certifySubject, metricsSummarySubjects, tapEventSubjects]), subscribe: [inbox(role), tapRequestSubjects] };
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
        subscribe: [inbox(role), `${certifySubject} ${identityServiceName}`, ...serviceDiscoverySubjects(identityServiceName)],
        allowResponses: true,
      };
    case 'injector':
      // Its pod-injection events and nothing else: no state, no stream setup (the writers create the
      // streams), no reading. The inbox receives JetStream's publish acknowledgements.
      return { publish: ['meshbus.v1.events.injector.pod.*'], subscribe: [inbox(role)] };
    case 'workload':
      // Requests to the destination replicas and nothing else: no state, no JetStream.
      return { publish: [...workloadRequestSubjects], subscribe: [inbox(role)] };
    case 'reader':
      // Also the exports and, for the linked clusters it is told of, the link streams (`meshbus multicluster check`).
      return { publish: unique([...streamReading, ...metricsReading, ...multiclusterReading(options.links ?? []), ...serviceDiscovery]), subscribe: [inbox(role)] };
    case 'tap':
      // What a reader may do, plus asking proxies for their request metadata and reading it:
      // tapped records carry paths and identities, so a reader login cannot see them.
      return { publish: unique([...streamReading, ...metricsReading, ...serviceDiscovery, tapRequestSubjects]), subscribe: [inbox(role), tapEventSubjects] };
    case 'multicluster':
      // Its exports and gateway heartbeat, the mirrors of linked clusters' services and its link
      // events; the link streams of the clusters it is linked to, and nothing of their content
      // but what the leaf node delivers into them.
      return {
        publish: unique([
          ...streamReading,
          ...streamSetup,
          ...multiclusterStreams(options.links ?? []),
          ...ownLease('multicluster'),
          acks,
          'meshbus.v1.exports.>',
          'meshbus.v1.state.mirrors.>',
          'meshbus.v1.events.multicluster.>',
          'meshbus.v1.events.leader.multicluster',
          'meshbus.v1.events.publish.failed',
        ]),
        subscribe: [inbox(role)],
      };
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

/** A user whose permissions are given, not taken from a role: the login of a linked cluster. */
export interface NatsExtraUser {
  user: string;
  password: string;
  permissions: NatsPermissions;
  /** Written as a comment above the user. */
  comment?: string;
}

function checkLogin(user: string, password: string): void {
  if (!safeText.test(user)) throw new NatsAuthorizationError(`NATS user ${JSON.stringify(user)}: use letters, digits, '.', '_' and '-' only`);
  if (!safeText.test(password)) throw new NatsAuthorizationError(`password of NATS user ${user}: use letters, digits, '.', '_' and '-' only`);
}

function renderUser(user: string, password: string, p: NatsPermissions, comment?: string): string {
  const lines = [
    ...(comment ? [`    # ${comment.replace(/\n/g, ' ')}`] : []),
    `    {`,
    `      user: ${quote(user)}`,
    `      password: ${quote(password)}`,
    `      permissions: {`,
    `        publish: { allow: ${list(p.publish, '        ')} }`,
    `        subscribe: { allow: ${list(p.subscribe, '        ')} }`,
  ];
  if (p.allowResponses) lines.push(`        allow_responses: true`);
  lines.push(`      }`, `    }`);
  return lines.join('\n');
}

/**
 * The nats-server (2.9) `authorization { users = [...] }` block giving each
 * user the permissions of its role, followed by any users with permissions of
 * their own (the logins of linked clusters).
 */
export function natsAuthorizationConfig(users: readonly NatsUser[], extraUsers: readonly NatsExtraUser[] = []): string {
  const seen = new Set<string>();
  const once = (user: string) => {
    if (seen.has(user)) throw new NatsAuthorizationError(`NATS user ${user} is listed twice`);
    seen.add(user);
  };
  const blocks = users.map((u) => {
    checkLogin(u.user, u.password);
    if (!natsRoles.includes(u.role)) throw new NatsAuthorizationError(`NATS user ${u.user}: unknown role ${JSON.stringify(u.role)}`);
    once(u.user);
    return renderUser(u.user, u.password, rolePermissions(u.role, u.links === undefined ? {} : { links: u.links }));
  });
  for (const u of extraUsers) {
    checkLogin(u.user, u.password);
    once(u.user);
    for (const subject of [...u.permissions.publish, ...u.permissions.subscribe]) {
      if (!/^[A-Za-z0-9_.$*>\- ]{1,256}$/.test(subject)) throw new NatsAuthorizationError(`NATS user ${u.user}: ${JSON.stringify(subject)} is not a subject`);
    }
    blocks.push(renderUser(u.user, u.password, u.permissions, u.comment));
  }
  return `authorization {\n  users = [\n${blocks.join('\n')}\n  ]\n}\n`;
}
