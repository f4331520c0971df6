import { subjects, type FailoverChanged, type PolicyRejected } from '@meshbus/bus-schemas';
import { canonicalJson } from '@meshbus/runtime';
import { attemptDue, planStatePublications, type PublishFailures, type StatePublication } from '@meshbus/bus';
import { policyStateKind, policyStateKinds, type PolicyStateData, type PolicyStateLookup } from './policy-state.js';

/** A rejected resource to announce. */
export interface RejectionPublication {
  readonly type: 'rejected';
  readonly rejection: PolicyRejected;
}

/**
 * A failover change to announce (`policy.failover-changed`), kept until the bus has stored it.
 * Its failures are retried under `subject` (the route's event subject) with that subject's
 * backoff, like a state key.
 */
export interface FailoverPublication {
  readonly type: 'failover';
  readonly subject: string;
  readonly change: FailoverChanged;
}

/** Every failover publication of a route shares its retry state; nothing else is compared. */
export const failoverFingerprint = 'failover-changed';

/** One thing for the leader to publish. */
export type PolicyPublication = StatePublication<PolicyStateData> | RejectionPublication | FailoverPublication;

/** What the leader knows when it plans. */
export interface PublishPlanInput {
  /** The desired policy state. */
  readonly desired: PolicyStateLookup;
  /** What the bus holds, with this leader's own unconfirmed writes applied. */
  readonly bus: PolicyStateLookup;
  /** Subjects that may differ between the two; every other subject is known to agree. */
  readonly keys: Iterable<string>;
  /** Rejections not yet announced. */
  readonly rejections: readonly PolicyRejected[];
  /** Failover changes not yet stored, oldest first. @default none */
  readonly failovers?: readonly FailoverPublication[];
  /** Keys whose last publication failed. */
  readonly failures: PublishFailures;
  readonly now: number;
}

/** What to publish now, and what waits. */
export interface PublishPlan {
  /** Rejections first, then state changes by subject. */
  readonly publications: readonly PolicyPublication[];
  /** Subjects that differ but wait out the backoff of an earlier failure; reconsider them at `retryAt`. */
  readonly postponed: readonly string[];
  /** Earliest time a postponed subject is due; undefined when none is. */
  readonly retryAt: number | undefined;
  /** Failing subjects that need no publication any more: forget their failures. */
  readonly settled: readonly string[];
}

/** The kind of a subject the policy service writes; undefined for any other subject. */
const kindOf = (subject: string) => {
  const kind = policyStateKind(subject);
  return kind === undefined ? undefined : policyStateKinds[kind];
};

const failoverSubjectPrefix = subjects.policyFailoverChanged('ns', 'route').replace(/ns\.route$/, '');

/** Whether `subject` is one of `policy.failover-changed` (`meshbus.v1.events.policy.failover.<ns>.<route>`). */
function isFailoverSubject(subject: string): boolean {
  return subject.startsWith(failoverSubjectPrefix);
}

/**
 * Decides what the leader publishes: the rejections not yet announced, the
 * failover changes not yet stored whose route is not waiting out the backoff
 * of an earlier failure, then the policy subjects that differ
 * ({@link planStatePublications}; the defaults always exist, so nothing
 * deletes them). The failure of a route with nothing left to announce is
 * settled. Pure: the clock and both states are inputs.
 */
export function planPublications(input: PublishPlanInput): PublishPlan {
  const state = planStatePublications({ ...input, kindOf });
  const rejections = input.rejections.map((rejection): RejectionPublication => ({ type: 'rejected', rejection }));
  const failovers: FailoverPublication[] = [];
  let retryAt = state.retryAt;
  const waiting = new Set<string>();
  for (const f of input.failovers ?? []) {
    waiting.add(f.subject);
    const failure = input.failures.get(f.subject);
    if (attemptDue(failure, failoverFingerprint, input.now)) failovers.push(f);
    else retryAt = Math.min(retryAt ?? Infinity, failure!.nextAttemptAt);
  }
  const settled = [...state.settled];
  if (input.failovers !== undefined) {
    for (const subject of input.failures.keys()) if (isFailoverSubject(subject) && !waiting.has(subject)) settled.push(subject);
  }
  return { ...state, publications: [...rejections, ...failovers, ...state.publications], retryAt, settled };
}


/** The identity of a rejection: a resource rejected again for the same reason is not announced twice. */
export function rejectionKey(r: PolicyRejected): string {
  return canonicalJson(r);
}

/**
 * The rejections to announce: those of `current` not in `announced`. Returns
 * them with the new set of known rejections (a rejection that went away and
 * comes back is announced again).
 */
export function newRejections(announced: ReadonlySet<string>, current: readonly PolicyRejected[]): { fresh: PolicyRejected[]; known: Set<string> } {
  const known = new Set<string>();
  const fresh: PolicyRejected[] = [];
  for (const r of current) {
    const key = rejectionKey(r);
    if (known.has(key)) continue;
    known.add(key);
    if (!announced.has(key)) fresh.push(r);
  }
  return { fresh, known };
}
