import { parseStateSubject, subjects, type EndpointSet, type ServiceProfileState } from '@meshbus/bus-schemas';
import type { ManifestProblem } from '@meshbus/manifests';
import { canonicalJson } from '@meshbus/runtime';
import { attemptDue, type PublishFailures } from '@meshbus/bus';
import type { ExpiredRegistration } from './registrations.js';

/** A value the destination keeps on the bus: an endpoint set or a profile. */
export type StateData = EndpointSet | ServiceProfileState;

/** Keyed state that can be looked up by subject. */
export interface StateLookup {
  get(subject: string): StateData | undefined;
}

/** One thing for the leader to publish. */
export type Publication =
  | {
      readonly type: 'upsert';
      readonly subject: string;
      /** CloudEvents subject: the key tokens of the subject, joined by `/`. */
      readonly key: string;
      readonly kind: 'endpointSet' | 'serviceProfile';
      readonly data: StateData;
      /** Identifies the value, so that a failure is retried at once when the value changes. */
      readonly fingerprint: string;
    }
  | {
      readonly type: 'tombstone';
      readonly subject: string;
      readonly key: string;
      readonly kind: 'endpointSetDeleted' | 'serviceProfileDeleted';
      readonly reason: string;
      readonly fingerprint: string;
    }
  | {
      /** A registration whose heartbeats stopped: a tombstone on its subject, then `workload.expired`. */
      readonly type: 'expiry';
      readonly subject: string;
      readonly namespace: string;
      readonly name: string;
      readonly lastHeartbeat: string;
    }
  | { readonly type: 'manifestRejected'; readonly problem: ManifestProblem };

/** The fingerprint under which a failed expiry is retried. */
export const expiryFingerprint = 'expiry';

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
 * inputs. A subject whose publication failed waits for its backoff without
 * holding back any other; it is retried at once if its value changes.
 */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const publications: Publication[] = [];
  for (const problem of input.problems) publications.push({ type: 'manifestRejected', problem });
  const postponed: string[] = [];
  const settled: string[] = [];
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

  for (const subject of [...new Set(input.keys)].sort()) {
    const parsed = parseStateSubject(subject);
    if (!parsed || (parsed.kind !== 'endpoints' && parsed.kind !== 'profiles')) continue;
    const want = input.desired.get(subject);
    const have = input.bus.get(subject);
    const failure = input.failures.get(subject);
    const fingerprint = want === undefined ? 'tombstone' : canonicalJson(want);
    const needed = want === undefined ? have !== undefined : have === undefined || canonicalJson(have) !== fingerprint;
    if (!needed) {
      if (failure) settled.push(subject);
      continue;
    }
    if (!attemptDue(failure, fingerprint, input.now)) {
      postponed.push(subject);
      retryAt = Math.min(retryAt ?? Infinity, failure!.nextAttemptAt);
      continue;
    }
    const key = parsed.key.join('/');
    const endpoints = parsed.kind === 'endpoints';
    if (want === undefined) {
      publications.push({
        type: 'tombstone',
        subject,
        key,
        kind: endpoints ? 'endpointSetDeleted' : 'serviceProfileDeleted',
        reason: 'service removed',
        fingerprint,
      });
    } else {
      publications.push({ type: 'upsert', subject, key, kind: endpoints ? 'endpointSet' : 'serviceProfile', data: want, fingerprint });
    }
  }
  return { publications, postponed, retryAt, settled };
}

/** The bus subject a publication writes to. */
export function publicationSubject(p: Publication): string {
  return p.type === 'manifestRejected' ? subjects.manifestRejected : p.subject;
}
