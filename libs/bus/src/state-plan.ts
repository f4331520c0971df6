import { parseStateSubject, type EventKind } from '@meshbus/bus-schemas';
import { canonicalJson } from '@meshbus/runtime';
import { attemptDue, type PublishFailures } from './publish-retries.js';

/** Keyed state that can be looked up by state subject. */
export interface StateLookup<T> {
  /** The value under `subject`; undefined when there is none. */
  get(subject: string): T | undefined;
}

/** How one kind of state subject is written: the event of a snapshot, and of its tombstone. */
export interface StateKindNames {
  readonly snapshot: EventKind;
  /** Undefined for a kind that is never deleted. */
  readonly deleted: EventKind | undefined;
  /** The reason a tombstone of this kind gives. */
  readonly reason: string;
}

/** A snapshot or a tombstone for the leader to write on one state subject. */
export type StatePublication<T> =
  | {
      readonly type: 'upsert';
      readonly subject: string;
      /** CloudEvents subject: the key tokens of the subject, joined by `/`. */
      readonly key: string;
      readonly kind: EventKind;
      readonly data: T;
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
    };

/** What the leader knows when it plans the state subjects. */
export interface StatePlanInput<T> {
  /** The desired state. */
  readonly desired: StateLookup<T>;
  /** What the bus holds, with this leader's own unconfirmed writes applied. */
  readonly bus: StateLookup<T>;
  /** Subjects that may differ between the two; every other subject is known to agree. */
  readonly keys: Iterable<string>;
  /** The kind of a subject this writer keeps; undefined for a subject of another writer (left alone). */
  readonly kindOf: (subject: string) => StateKindNames | undefined;
  /** Keys whose last publication failed. */
  readonly failures: PublishFailures;
  readonly now: number;
}

/** What to publish now, and what waits. */
export interface StatePlan<P> {
  readonly publications: readonly P[];
  /** Subjects that differ but wait out the backoff of an earlier failure; reconsider them at `retryAt`. */
  readonly postponed: readonly string[];
  /** Earliest time a postponed subject is due; undefined when none is postponed. */
  readonly retryAt: number | undefined;
  /** Failing subjects that need no publication any more: forget their failures. */
  readonly settled: readonly string[];
}

/** The fingerprint of a tombstone. */
const tombstoneFingerprint = 'tombstone';

/**
 * Decides what the leader writes, by subject order: a snapshot where the
 * desired value differs from the bus's (values are compared, not objects or
 * key order), a tombstone where the bus holds a value nothing desires. Pure:
 * the clock and both states are inputs. A subject whose publication failed
 * waits for its backoff without holding back any other, and is tried at once
 * if its value changes.
 */
export function planStatePublications<T>(input: StatePlanInput<T>): StatePlan<StatePublication<T>> {
  const publications: StatePublication<T>[] = [];
  const postponed: string[] = [];
  const settled: string[] = [];
  let retryAt: number | undefined;
  for (const subject of [...new Set(input.keys)].sort()) {
    const names = input.kindOf(subject);
    if (!names) continue;
    const want = input.desired.get(subject);
    if (want === undefined && names.deleted === undefined) continue;
    const have = input.bus.get(subject);
    const fingerprint = want === undefined ? tombstoneFingerprint : canonicalJson(want);
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
    const key = parseStateSubject(subject)?.key.join('/') ?? subject;
    if (want === undefined) publications.push({ type: 'tombstone', subject, key, kind: names.deleted!, reason: names.reason, fingerprint });
    else publications.push({ type: 'upsert', subject, key, kind: names.snapshot, data: want, fingerprint });
  }
  return { publications, postponed, retryAt, settled };
}
