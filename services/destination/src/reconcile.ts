import { parseStateSubject, subjects, type EndpointSet, type ServiceProfileState } from '@meshbus/bus-schemas';
import type { ManifestProblem } from '@meshbus/manifests';
import { attemptDue, planStatePublications, type PublishFailures, type StateKindNames, type StateLookup as BusStateLookup, type StatePublication } from '@meshbus/bus';
import type { ExpiredRegistration } from './registrations.js';

/** A value the destination keeps on the bus: an endpoint set or a profile. */
export type StateData = EndpointSet | ServiceProfileState;

/** Keyed state that can be looked up by subject. */
export type StateLookup = BusStateLookup<StateData>;

/** A publication of the destination's own, beside the state snapshots and tombstones. */
export type OwnPublication =
  | {
      /** A registration whose heartbeats stopped: a tombstone on its subject, then `workload.expired`. */
      readonly type: 'expiry';
      readonly subject: string;
      readonly namespace: string;
      readonly name: string;
      readonly lastHeartbeat: string;
    }
  | { readonly type: 'manifestRejected'; readonly problem: ManifestProblem };

/** One thing for the leader to publish. */
export type Publication = StatePublication<StateData> | OwnPublication;

/** The fingerprint under which a failed expiry is retried. */
export const expiryFingerprint = 'expiry';

/** How the endpoint-set and profile subjects are written. */
const stateKinds: Readonly<Record<string, StateKindNames>> = {
  endpoints: { snapshot: 'endpointSet', deleted: 'endpointSetDeleted', reason: 'service removed' },
  profiles: { snapshot: 'serviceProfile', deleted: 'serviceProfileDeleted', reason: 'service removed' },
};

/** The kind of an endpoint-set or profile subject; undefined for any other subject. */
export function destinationStateKind(subject: string): StateKindNames | undefined {
  const kind = parseStateSubject(subject)?.kind;
  return kind === undefined ? undefined : stateKinds[kind];
}

/** What the leader knows when it reconciles. */
export interface ReconcileInput {
  /** The desired endpoint sets and profiles. */
  readonly desired: StateLookup;
  /** What the bus holds, with this leader's own unconfirmed writes applied. */
  readonly bus: StateLookup;
  /** Subjects that may differ between the two; every other subject is known to agree. */
  readonly keys: Iterable<string>;
  /** Registrations past their heartbeat allowance. */
  readonly expired: readonly ExpiredRegistration[];
  /** Refused manifests not yet announced. */
  readonly problems: readonly ManifestProblem[];
  /** Keys whose last publication failed. */
  readonly failures: PublishFailures;
  readonly now: number;
}

/** What to publish now, and what waits. */
export interface ReconcilePlan {
  /** In this order: refused manifests, expiries, then state changes by subject. */
  readonly publications: readonly Publication[];
  /** Subjects that differ but wait out the backoff of an earlier failure; reconsider them at `retryAt`. */
  readonly postponed: readonly string[];
  /** Earliest time a postponed subject is due; undefined when none is postponed. */
  readonly retryAt: number | undefined;
  /** Failing subjects that need no publication any more: forget their failures. */
  readonly settled: readonly string[];
}

/**
 * Decides what the leader publishes: pure, so the clock and both states are
 * inputs. Refused manifests and expired registrations come first, then the
 * endpoint sets and profiles that differ ({@link planStatePublications}). A
 * subject whose publication failed waits for its backoff without holding
 * back any other; it is retried at once if its value changes.
 */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const publications: Publication[] = input.problems.map((problem) => ({ type: 'manifestRejected', problem }));
  const postponed: string[] = [];
  let retryAt: number | undefined;
  for (const e of input.expired) {
    const failure = input.failures.get(e.subject);
    if (!attemptDue(failure, expiryFingerprint, input.now)) {
      postponed.push(e.subject);
      retryAt = Math.min(retryAt ?? Infinity, failure!.nextAttemptAt);
      continue;
    }
    publications.push({
      type: 'expiry',
      subject: e.subject,
      namespace: e.registration.namespace,
      name: e.registration.name,
      lastHeartbeat: new Date(e.lastSeen).toISOString(),
    });
  }
  const state = planStatePublications({ ...input, kindOf: destinationStateKind });
  return {
    publications: [...publications, ...state.publications],
    postponed: [...postponed, ...state.postponed],
    retryAt: retryAt === undefined ? state.retryAt : Math.min(retryAt, state.retryAt ?? Infinity),
    settled: state.settled,
  };
}

/** The bus subject a publication writes to. */
export function publicationSubject(p: Publication): string {
  return p.type === 'manifestRejected' ? subjects.manifestRejected : p.subject;
}
