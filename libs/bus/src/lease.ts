/**
 * The leader lease as a pure state machine: `stepLease(state, observation, now)`
 * returns the next state and the actions the I/O driver must carry out. It
 * reads no clock and touches no network, so every timing rule is checked in
 * unit tests with plain numbers.
 *
 * The lease is one key of a JetStream KV bucket, changed only by
 * compare-and-set on its revision. Its rules:
 * - a standby takes a lease over only once its revision has not moved for a
 *   whole lease duration *by the standby's own clock*, counted from when it
 *   first saw that revision (no comparison of clocks across hosts);
 * - the leader counts its own lease from when it *sent* the write that
 *   created or renewed it, which is no later than any standby saw it, and
 *   steps down at {@link LeaseSettings.stepDownFraction} of the lease: it has
 *   stopped writing before any standby may take over;
 * - the term of a leadership is the revision of the write that acquired it.
 *   KV revisions only grow, so every new leader has a higher term than all
 *   before it.
 */

/** Timing of the lease, all in milliseconds. */
export interface LeaseSettings {
  /** This replica's id, written into the lease. */
  holder: string;
  /** A lease whose revision has not moved for this long may be taken over. */
  leaseMs: number;
  /** How often the leader renews. Must leave room for a retry before the step-down point. */
  renewEveryMs: number;
  /** Share of the lease after which a leader that could not renew stops leading. */
  stepDownFraction: number;
  /** Wait before trying again after a failed read, take-over or renewal. */
  retryMs: number;
}

/** Settings derived from a lease duration: renew every quarter, step down at 80 %. */
export function leaseSettings(holder: string, leaseMs: number): LeaseSettings {
  return { holder, leaseMs, renewEveryMs: Math.max(1, Math.floor(leaseMs / 4)), stepDownFraction: 0.8, retryMs: Math.max(1, Math.min(100, Math.floor(leaseMs / 10))) };
}

/** The lease key as last read: a holder's lease, or deleted (released) or absent. */
export type LeaseRecord = { revision: number; holder: string } | { revision: number; deleted: true } | undefined;

/** What a standby knows of someone else's lease. */
export interface ObservedLease {
  revision: number;
  holder: string | undefined;
  /** When this replica first saw this revision. */
  since: number;
}

/** The I/O request the driver has in flight, if any (one at a time). */
export type Pending = 'read' | 'acquire' | 'renew' | undefined;

/** State of one replica's campaign. */
export type LeaseState =
  | { phase: 'standby'; observed: ObservedLease | undefined; deleted: { revision: number } | 'absent' | undefined; pending: Pending }
  | { phase: 'leader'; term: number; revision: number; renewedAt: number; pending: Pending }
  /** Campaign over; `releaseOnRenewal` while a renewal sent before the shutdown may still land. */
  | { phase: 'stopped'; releaseOnRenewal?: boolean };

/** Something the driver saw happen. */
export type LeaseObservation =
  /** A timer the core asked for fired (or the driver starts). */
  | { type: 'tick' }
  /** The lease key as read by a get or delivered by a watch; `undefined` when the key never existed. */
  | { type: 'lease-read'; record: LeaseRecord }
  | { type: 'read-failed'; reason: string }
  /** The compare-and-set that took the lease succeeded; `sentAt` is when it was sent. */
  | { type: 'acquired'; revision: number; sentAt: number }
  /** The take-over failed; `conflict` when someone else changed the key first. */
  | { type: 'acquire-failed'; conflict: boolean; reason: string }
  | { type: 'renewed'; revision: number; sentAt: number }
  | { type: 'renew-failed'; conflict: boolean; reason: string }
  /** The code run on election failed: give the lease back. */
  | { type: 'start-failed'; reason: string }
  | { type: 'shutdown' };

/** Something the driver must do. */
export type LeaseAction =
  | { type: 'read' }
  /** Compare-and-set the lease: create it (`expectRevision` 0) or replace revision `expectRevision`. */
  | { type: 'try-acquire'; expectRevision: number }
  | { type: 'renew'; expectRevision: number }
  /** This replica now leads with `term`: start writing. */
  | { type: 'elected'; term: number }
  /** Stop writing now. */
  | { type: 'step-down'; reason: string }
  /** Delete the lease if it still has `expectRevision`, so a standby takes over at once. */
  | { type: 'release'; expectRevision: number }
  /** Deliver a `tick` at this time (replaces any earlier wait). */
  | { type: 'wait-until'; at: number };

/** Result of one step. */
export interface LeaseStep {
  state: LeaseState;
  actions: LeaseAction[];
}

/** The state of a replica that has just started campaigning. */
export function initialLeaseState(): LeaseState {
  return { phase: 'standby', observed: undefined, deleted: undefined, pending: undefined };
}

/** The lease value this replica writes. */
export function leaseValue(settings: LeaseSettings): { holder: string; leaseMs: number } {
  return { holder: settings.holder, leaseMs: settings.leaseMs };
}

/** One transition of the lease state machine. Pure: same inputs, same result. */
export function stepLease(settings: LeaseSettings, state: LeaseState, obs: LeaseObservation, now: number): LeaseStep {
  if (state.phase === 'stopped') {
    // A renewal that landed after the release was sent made that release miss: release its revision.
    if (state.releaseOnRenewal && obs.type === 'renewed') return { state: { phase: 'stopped' }, actions: [{ type: 'release', expectRevision: obs.revision }] };
    if (state.releaseOnRenewal && obs.type === 'renew-failed') return { state: { phase: 'stopped' }, actions: [] };
    return { state, actions: [] };
  }
  if (obs.type === 'shutdown') {
    if (state.phase === 'leader') {
      const stopped: LeaseState = state.pending === 'renew' ? { phase: 'stopped', releaseOnRenewal: true } : { phase: 'stopped' };
      return { state: stopped, actions: [{ type: 'step-down', reason: 'released' }, { type: 'release', expectRevision: state.revision }] };
    }
    return { state: { phase: 'stopped' }, actions: [] };
  }
  return state.phase === 'leader' ? stepLeader(settings, state, obs, now) : stepStandby(settings, state, obs, now);
}

type Leader = Extract<LeaseState, { phase: 'leader' }>;
type Standby = Extract<LeaseState, { phase: 'standby' }>;

function freshStandby(): Standby {
  return { phase: 'standby', observed: undefined, deleted: undefined, pending: undefined };
}

// ---- leader ----

function stepLeader(s: LeaseSettings, state: Leader, obs: LeaseObservation, now: number): LeaseStep {
  switch (obs.type) {
    case 'renewed': {
      const next: Leader = { ...state, pending: undefined };
      if (obs.revision > state.revision) {
        next.revision = obs.revision;
        next.renewedAt = Math.max(state.renewedAt, obs.sentAt);
      }
      return leaderAdvance(s, next, now);
    }
    case 'renew-failed': {
      if (obs.conflict) return deposed(`lease taken by another replica (${obs.reason})`);
      const next: Leader = { ...state, pending: undefined };
      if (now >= stepDownAt(s, next)) return deposed(`lease not renewed in time: ${obs.reason}`);
      return { state: next, actions: [{ type: 'wait-until', at: Math.min(now + s.retryMs, stepDownAt(s, next)) }] };
    }
    case 'lease-read': {
      const r = obs.record;
      // Our own renewal echoed back by the watch, or an older record: nothing new.
      if (r !== undefined && (r.revision <= state.revision || ('holder' in r && r.holder === s.holder))) return { state, actions: [] };
      const reason = r === undefined || 'deleted' in r ? 'lease deleted by someone else' : `lease taken by ${r.holder}`;
      const next = observe(freshStandby(), r, now);
      const after = standbyAdvance(s, next, now);
      return { state: after.state, actions: [{ type: 'step-down', reason }, ...after.actions] };
    }
    case 'start-failed':
      return {
        state: { ...freshStandby(), pending: 'read' },
        actions: [{ type: 'step-down', reason: `start-up failed: ${obs.reason}` }, { type: 'release', expectRevision: state.revision }, { type: 'read' }],
      };
    case 'tick':
      return leaderAdvance(s, state, now);
    default:
      // Late results of requests made as a standby.
      return { state, actions: [] };
  }
}

/** Steps down and reads the key again, to learn who leads now. */
function deposed(reason: string): LeaseStep {
  return { state: { ...freshStandby(), pending: 'read' }, actions: [{ type: 'step-down', reason }, { type: 'read' }] };
}

function stepDownAt(s: LeaseSettings, state: Leader): number {
  return state.renewedAt + s.leaseMs * s.stepDownFraction;
}

/** A leader past its step-down point stops; otherwise it renews when due (one request at a time) and sleeps until the next point. */
function leaderAdvance(s: LeaseSettings, state: Leader, now: number): LeaseStep {
  const deadline = stepDownAt(s, state);
  if (now >= deadline) return deposed('lease not renewed in time');
  const due = state.renewedAt + s.renewEveryMs;
  if (state.pending) return { state, actions: [{ type: 'wait-until', at: deadline }] };
  if (now >= due) {
    return { state: { ...state, pending: 'renew' }, actions: [{ type: 'renew', expectRevision: state.revision }, { type: 'wait-until', at: deadline }] };
  }
  return { state, actions: [{ type: 'wait-until', at: Math.min(due, deadline) }] };
}

// ---- standby ----

/** Records a read of the lease key: a new revision restarts the standby's count; older records are ignored. */
function observe(state: Standby, record: LeaseRecord, now: number): Standby {
  if (record === undefined) return state.observed || typeof state.deleted === 'object' ? state : { ...state, deleted: 'absent' };
  const known = Math.max(state.observed?.revision ?? 0, typeof state.deleted === 'object' ? state.deleted.revision : 0);
  if (record.revision <= known) return state;
  if ('deleted' in record) return { ...state, observed: undefined, deleted: { revision: record.revision } };
  return { ...state, observed: { revision: record.revision, holder: record.holder, since: now }, deleted: undefined };
}

function stepStandby(s: LeaseSettings, state: Standby, obs: LeaseObservation, now: number): LeaseStep {
  switch (obs.type) {
    case 'lease-read': {
      const next = observe(state, obs.record, now);
      return standbyAdvance(s, state.pending === 'read' ? { ...next, pending: undefined } : next, now);
    }
    case 'read-failed':
      return { state: { ...state, pending: undefined }, actions: [{ type: 'wait-until', at: now + s.retryMs }] };
    case 'acquired': {
      const leader: Leader = { phase: 'leader', term: obs.revision, revision: obs.revision, renewedAt: obs.sentAt, pending: undefined };
      // A take-over answered so late that the lease is nearly spent: lead on a fresh renewal, not on this one.
      if (now >= stepDownAt(s, leader)) return { state: { ...freshStandby(), pending: 'read' }, actions: [{ type: 'read' }] };
      const after = leaderAdvance(s, leader, now);
      return { state: after.state, actions: [{ type: 'elected', term: obs.revision }, ...after.actions] };
    }
    case 'acquire-failed':
      // Lost a race: read the key again. The bus did not answer: try again shortly.
      if (obs.conflict) return { state: { ...freshStandby(), pending: 'read' }, actions: [{ type: 'read' }] };
      return { state: { ...state, pending: undefined }, actions: [{ type: 'wait-until', at: now + s.retryMs }] };
    case 'tick':
      return standbyAdvance(s, state, now);
    default:
      // Late results of requests made as leader.
      return { state, actions: [] };
  }
}

/** A standby takes a free lease at once, an unmoving one after a lease duration, and otherwise waits for that moment. */
function standbyAdvance(s: LeaseSettings, state: Standby, now: number): LeaseStep {
  const expiresAt = state.observed ? state.observed.since + s.leaseMs : undefined;
  // The answer to the request in flight drives the next step; only an expiry still ahead needs a timer.
  if (state.pending) return { state, actions: expiresAt !== undefined && expiresAt > now ? [{ type: 'wait-until', at: expiresAt }] : [] };
  if (state.deleted !== undefined) {
    const expectRevision = state.deleted === 'absent' ? 0 : state.deleted.revision;
    return { state: { ...state, pending: 'acquire' }, actions: [{ type: 'try-acquire', expectRevision }] };
  }
  if (!state.observed || expiresAt === undefined) return { state: { ...state, pending: 'read' }, actions: [{ type: 'read' }] };
  if (now >= expiresAt) return { state: { ...state, pending: 'acquire' }, actions: [{ type: 'try-acquire', expectRevision: state.observed.revision }] };
  return { state, actions: [{ type: 'wait-until', at: expiresAt }] };
}
