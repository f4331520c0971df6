import { parseStateSubject, type EventKind, type PolicyRejected } from '@meshbus/bus-schemas';
import { canonicalJson } from '@meshbus/runtime';
import { policyStateKind, policyStateKinds, type PolicyStateData, type PolicyStateLookup } from './policy-state.js';
import { attemptDue, type PublishFailures } from './publish-retries.js';

/** One thing for the leader to publish. */
export type PolicyPublication =
  | {
      readonly type: 'upsert';
      readonly subject: string;
      /** CloudEvents subject: the key tokens of the subject, joined by `/`. */
      readonly key: string;
      readonly kind: EventKind;
      readonly data: PolicyStateData;
      /** Identifies the value, so that a failure is retried at once when the value changes. */
      readonly fingerprint: string;
    }
  | {
      readonly type: 'tombstone';
      readonly subject: string;
      readonly key: string;
      readonly kind: EventKind;
      readonly reason: string;
      readonly fingerprint: string;
    }
  | { readonly type: 'rejected'; readonly rejection: PolicyRejected };

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

/**
 * Decides what the leader publishes: a snapshot where the desired value
 * differs from the bus's, a tombstone where the bus holds a value nothing
 * desires. Pure: the clock and both states are inputs. A subject whose
 * publication failed waits for its backoff without holding back any other,
 * and is tried at once if its value changes.
 */
export function planPublications(input: PublishPlanInput): PublishPlan {
  const publications: PolicyPublication[] = input.rejections.map((rejection) => ({ type: 'rejected', rejection }));
  const postponed: string[] = [];
  const settled: string[] = [];
  let retryAt: number | undefined;
  for (const subject of [...new Set(input.keys)].sort()) {
    const kind = policyStateKind(subject);
    if (!kind) continue;
    const entry = policyStateKinds[kind];
    const want = input.desired.get(subject);
    const have = input.bus.get(subject);
    // The defaults always exist: nothing deletes them.
    if (want === undefined && entry.deleted === undefined) continue;
    const fingerprint = want === undefined ? 'tombstone' : canonicalJson(want);
    const needed = want === undefined ? have !== undefined : have === undefined || canonicalJson(have) !== fingerprint;
    const failure = input.failures.get(subject);
    if (!needed) {
      if (failure) settled.push(subject);
      continue;
    }
    if (!attemptDue(failure, fingerprint, input.now)) {
      postponed.push(subject);
      retryAt = Math.min(retryAt ?? Infinity, failure!.nextAttemptAt);
      continue;
    }
    const key = parseStateSubject(subject)!.key.join('/');
    if (want === undefined) publications.push({ type: 'tombstone', subject, key, kind: entry.deleted!, reason: entry.reason, fingerprint });
    else publications.push({ type: 'upsert', subject, key, kind: entry.snapshot, data: want, fingerprint });
  }
  return { publications, postponed, retryAt, settled };
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
