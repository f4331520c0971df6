import { describe, expect, it } from 'vitest';
import { initialLeaseState, leaseSettings, stepLease, type LeaseAction, type LeaseObservation, type LeaseRecord, type LeaseState } from './lease.js';

const s = leaseSettings('a', 1000); // renew every 250, step down at 800, retry after 100

/** Drives one core by hand: feeds observations at given times and keeps the state. */
class Replica {
  state: LeaseState = initialLeaseState();
  constructor(readonly settings = s) {}
  step(obs: LeaseObservation, now: number): LeaseAction[] {
    const r = stepLease(this.settings, this.state, obs, now);
    this.state = r.state;
    return r.actions;
  }
}

const types = (actions: LeaseAction[]) => actions.map((a) => a.type);

/** A replica that took a free lease at revision `rev`, sent at `t`. */
function leaderAt(rev: number, t: number): Replica {
  const r = new Replica();
  r.step({ type: 'tick' }, t);
  r.step({ type: 'lease-read', record: undefined }, t);
  r.step({ type: 'acquired', revision: rev, sentAt: t }, t);
  return r;
}

describe('leaseSettings', () => {
  it('renews every quarter of the lease and steps down at 80 %', () => {
    expect(leaseSettings('x', 1500)).toEqual({ holder: 'x', leaseMs: 1500, renewEveryMs: 375, stepDownFraction: 0.8, retryMs: 100 });
  });
});

describe('stepLease: acquiring', () => {
  it('reads the key first, then creates a lease that never existed and leads with its revision as term', () => {
    const r = new Replica();
    expect(r.step({ type: 'tick' }, 0)).toEqual([{ type: 'read' }]);
    expect(r.step({ type: 'lease-read', record: undefined }, 5)).toEqual([{ type: 'try-acquire', expectRevision: 0 }]);
    expect(r.step({ type: 'acquired', revision: 7, sentAt: 5 }, 9)).toEqual([
      { type: 'elected', term: 7 },
      { type: 'wait-until', at: 5 + 250 },
    ]);
    expect(r.state).toMatchObject({ phase: 'leader', term: 7, revision: 7, renewedAt: 5 });
  });

  it('takes a released (deleted) lease at once, by compare-and-set on the delete marker', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 12, deleted: true } }, 1)).toEqual([{ type: 'try-acquire', expectRevision: 12 }]);
  });

  it('waits a whole lease from the moment it first saw a revision before taking it over', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 100)).toEqual([{ type: 'wait-until', at: 1100 }]);
    // The same revision seen again (poll, watch) does not restart the count.
    expect(r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 600)).toEqual([{ type: 'wait-until', at: 1100 }]);
    expect(r.step({ type: 'tick' }, 1099)).toEqual([{ type: 'wait-until', at: 1100 }]);
    expect(r.step({ type: 'tick' }, 1100)).toEqual([{ type: 'try-acquire', expectRevision: 3 }]);
  });

  it('restarts the count on every renewal it sees, and ignores older records', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 4, holder: 'b' } }, 250)).toEqual([{ type: 'wait-until', at: 1250 }]);
    expect(r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 300)).toEqual([{ type: 'wait-until', at: 1250 }]);
    expect(r.step({ type: 'tick' }, 1000)).toEqual([{ type: 'wait-until', at: 1250 }]);
  });

  it('does not count a stale deletion seen after a newer lease', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: { revision: 9, holder: 'b' } }, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 8, deleted: true } }, 10)).toEqual([{ type: 'wait-until', at: 1000 }]);
  });

  it('after losing a take-over race (CAS conflict) reads the key again and waits for the winner', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: { revision: 2, deleted: true } }, 0);
    expect(r.step({ type: 'acquire-failed', conflict: true, reason: 'wrong last sequence: 3' }, 5)).toEqual([{ type: 'read' }]);
    expect(r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 6)).toEqual([{ type: 'wait-until', at: 1006 }]);
  });

  it('retries a take-over the bus did not answer, after a short wait', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: undefined }, 0);
    expect(r.step({ type: 'acquire-failed', conflict: false, reason: 'no answer' }, 1000)).toEqual([{ type: 'wait-until', at: 1100 }]);
    expect(r.step({ type: 'tick' }, 1100)).toEqual([{ type: 'try-acquire', expectRevision: 0 }]);
  });

  it('retries a failed read after a short wait', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    expect(r.step({ type: 'read-failed', reason: 'no responders' }, 3)).toEqual([{ type: 'wait-until', at: 103 }]);
    expect(r.step({ type: 'tick' }, 103)).toEqual([{ type: 'read' }]);
  });

  it('does not lead on a take-over answered after its step-down point', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: undefined }, 0);
    expect(r.step({ type: 'acquired', revision: 5, sentAt: 0 }, 800)).toEqual([{ type: 'read' }]);
    expect(r.state.phase).toBe('standby');
  });

  it('keeps one request in flight: ticks while a take-over is pending only wait', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 0);
    expect(r.step({ type: 'tick' }, 1000)).toEqual([{ type: 'try-acquire', expectRevision: 3 }]);
    expect(r.step({ type: 'tick' }, 1001)).toEqual([]);
    expect(r.step({ type: 'lease-read', record: { revision: 3, holder: 'b' } }, 1002)).toEqual([]);
  });
});

describe('stepLease: leading', () => {
  it('renews every quarter of the lease by compare-and-set on its last revision, counting from when each renewal was sent', () => {
    const r = leaderAt(7, 0);
    expect(r.step({ type: 'tick' }, 250)).toEqual([
      { type: 'renew', expectRevision: 7 },
      { type: 'wait-until', at: 800 },
    ]);
    expect(r.step({ type: 'renewed', revision: 9, sentAt: 250 }, 270)).toEqual([{ type: 'wait-until', at: 500 }]);
    expect(r.state).toMatchObject({ phase: 'leader', term: 7, revision: 9, renewedAt: 250 });
    expect(r.step({ type: 'tick' }, 500)).toEqual([
      { type: 'renew', expectRevision: 9 },
      { type: 'wait-until', at: 1050 },
    ]);
  });

  it('keeps its term across renewals', () => {
    const r = leaderAt(7, 0);
    for (let t = 250, rev = 8; t < 3000; t += 250, rev++) {
      r.step({ type: 'tick' }, t);
      r.step({ type: 'renewed', revision: rev, sentAt: t }, t + 1);
    }
    expect(r.state).toMatchObject({ phase: 'leader', term: 7 });
  });

  it('steps down at 80 % of the lease when renewals stall, even with a renewal still in flight', () => {
    const r = leaderAt(7, 0);
    r.step({ type: 'tick' }, 250); // renewal sent, never answered
    expect(r.step({ type: 'tick' }, 799)).toEqual([{ type: 'wait-until', at: 800 }]);
    expect(r.step({ type: 'tick' }, 800)).toEqual([{ type: 'step-down', reason: 'lease not renewed in time' }, { type: 'read' }]);
    expect(r.state.phase).toBe('standby');
    // The renewal answered late is not taken as leadership.
    expect(r.step({ type: 'renewed', revision: 8, sentAt: 250 }, 900)).toEqual([]);
    expect(r.state.phase).toBe('standby');
  });

  it('steps down when an event loop stall skipped every timer past the step-down point', () => {
    const r = leaderAt(7, 0);
    expect(types(r.step({ type: 'tick' }, 5000))).toEqual(['step-down', 'read']);
  });

  it('retries a failed renewal until the step-down point, then steps down', () => {
    const r = leaderAt(7, 0);
    r.step({ type: 'tick' }, 250);
    expect(r.step({ type: 'renew-failed', conflict: false, reason: 'timeout' }, 400)).toEqual([{ type: 'wait-until', at: 500 }]);
    expect(r.step({ type: 'tick' }, 500)).toEqual([
      { type: 'renew', expectRevision: 7 },
      { type: 'wait-until', at: 800 },
    ]);
    expect(r.step({ type: 'renew-failed', conflict: false, reason: 'timeout' }, 750)).toEqual([{ type: 'wait-until', at: 800 }]);
    expect(types(r.step({ type: 'renew-failed', conflict: false, reason: 'timeout' }, 800))).toEqual(['step-down', 'read']);
  });

  it('steps down at once when a renewal hits a CAS conflict (someone else wrote the key)', () => {
    const r = leaderAt(7, 0);
    r.step({ type: 'tick' }, 250);
    const actions = r.step({ type: 'renew-failed', conflict: true, reason: 'wrong last sequence: 8' }, 260);
    expect(types(actions)).toEqual(['step-down', 'read']);
    expect(r.state.phase).toBe('standby');
  });

  it('steps down at once when the watch shows another holder, and counts that lease from now', () => {
    const r = leaderAt(7, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 8, holder: 'b' } }, 100)).toEqual([
      { type: 'step-down', reason: 'lease taken by b' },
      { type: 'wait-until', at: 1100 },
    ]);
    expect(r.state).toMatchObject({ phase: 'standby', observed: { revision: 8, holder: 'b', since: 100 } });
  });

  it('ignores its own renewal echoed by the watch', () => {
    const r = leaderAt(7, 0);
    expect(r.step({ type: 'lease-read', record: { revision: 7, holder: 'a' } }, 10)).toEqual([]);
    expect(r.step({ type: 'lease-read', record: { revision: 8, holder: 'a' } }, 260)).toEqual([]);
    expect(r.state.phase).toBe('leader');
  });

  it('steps down when someone deletes its lease', () => {
    const r = leaderAt(7, 0);
    expect(types(r.step({ type: 'lease-read', record: { revision: 8, deleted: true } }, 10))).toEqual(['step-down', 'try-acquire']);
  });

  it('on shutdown steps down first, then releases the lease by compare-and-set, and does nothing after', () => {
    const r = leaderAt(7, 0);
    r.step({ type: 'tick' }, 250);
    r.step({ type: 'renewed', revision: 11, sentAt: 250 }, 251);
    expect(r.step({ type: 'shutdown' }, 300)).toEqual([
      { type: 'step-down', reason: 'released' },
      { type: 'release', expectRevision: 11 },
    ]);
    expect(r.state.phase).toBe('stopped');
    expect(r.step({ type: 'tick' }, 400)).toEqual([]);
    expect(r.step({ type: 'lease-read', record: undefined }, 400)).toEqual([]);
  });

  it('on shutdown with a renewal in flight, releases the revision that renewal wrote once it lands', () => {
    const r = leaderAt(7, 0);
    r.step({ type: 'tick' }, 250); // renewal in flight
    expect(r.step({ type: 'shutdown' }, 260)).toEqual([
      { type: 'step-down', reason: 'released' },
      { type: 'release', expectRevision: 7 },
    ]);
    expect(r.step({ type: 'renewed', revision: 8, sentAt: 250 }, 270)).toEqual([{ type: 'release', expectRevision: 8 }]);
    expect(r.step({ type: 'renewed', revision: 9, sentAt: 250 }, 280)).toEqual([]);
  });

  it('a standby shutting down writes nothing', () => {
    const r = new Replica();
    r.step({ type: 'tick' }, 0);
    expect(r.step({ type: 'shutdown' }, 1)).toEqual([]);
  });

  it('gives the lease back when its start-up code fails', () => {
    const r = leaderAt(7, 0);
    expect(r.step({ type: 'start-failed', reason: 'boom' }, 10)).toEqual([
      { type: 'step-down', reason: 'start-up failed: boom' },
      { type: 'release', expectRevision: 7 },
      { type: 'read' },
    ]);
  });
});

describe('stepLease: two replicas on a model KV', () => {
  /**
   * A seeded simulation: two replicas, one KV key changed only by
   * compare-and-set, random delivery delays, lost requests and answers,
   * replicas cut off from the bus, blocked event loops and crashes. Each leader's interval runs from its election to the last
   * moment it acted as leader (a blocked event loop acts on nothing); no two
   * may overlap, and terms must grow.
   */
  type Interval = { holder: number; from: number; to: number; term: number };
  function simulate(seed: number): Interval[] {
    // mulberry32
    let rand = seed;
    const random = () => {
      rand = (rand + 0x6d2b79f5) | 0;
      let t = Math.imul(rand ^ (rand >>> 15), 1 | rand);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const kv: { revision: number; value: { holder: string } | null } = { revision: 0, value: null };
    let seq = 0;
    type Event = { at: number; replica: number; obs: LeaseObservation | 'apply'; apply?: () => LeaseObservation | undefined };
    const queue: Event[] = [];
    const push = (e: Event) => queue.push(e);
    const replicas = ['a', 'b'].map((h) => ({ core: new Replica(leaseSettings(h, 1000)), timer: -1, busyUntil: 0, cutUntil: 0, lastActive: 0, alive: true, leading: undefined as Interval | undefined }));
    const intervals: Interval[] = [];
    const delay = () => (random() < 0.02 ? 100 + random() * 400 : random() * 30);

    const perform = (i: number, a: LeaseAction, now: number) => {
      const r = replicas[i]!;
      const holder = r.core.settings.holder;
      // A request takes effect at the server after a delay and its answer arrives later still; a
      // lost answer, or one slower than the driver's timeout (a renewal period), is a failure then.
      const send = (op: () => LeaseObservation, timedOut: LeaseObservation) => {
        const sentAt = now;
        const at = now + delay();
        if (now < r.cutUntil || random() < 0.01) {
          // Cut off from the bus, or lost on the way: never applied.
          push({ at: sentAt + 250, replica: i, obs: timedOut });
          return;
        }
        push({
          at,
          replica: i,
          obs: 'apply',
          apply: () => {
            const before = kv.revision;
            const result = op();
            // The KV watch tells every replica of each change.
            if (kv.revision !== before) {
              const record: LeaseRecord = kv.value ? { revision: kv.revision, holder: kv.value.holder } : { revision: kv.revision, deleted: true };
              for (const j of replicas.keys()) push({ at: at + delay(), replica: j, obs: { type: 'lease-read', record } });
            }
            const answerAt = at + delay();
            if (random() < 0.01 || answerAt > sentAt + 250) push({ at: sentAt + 250, replica: i, obs: timedOut });
            else push({ at: answerAt, replica: i, obs: 'sentAt' in result ? { ...result, sentAt } : result });
            return undefined;
          },
        });
      };
      const timeout = { conflict: false, reason: 'no answer within 250 ms' };
      switch (a.type) {
        case 'wait-until':
          r.timer = a.at;
          push({ at: a.at, replica: i, obs: { type: 'tick' } });
          return;
        case 'read':
          send(
            () => ({ type: 'lease-read', record: kv.revision === 0 ? undefined : kv.value ? { revision: kv.revision, holder: kv.value.holder } : { revision: kv.revision, deleted: true } }),
            { type: 'read-failed', reason: timeout.reason },
          );
          return;
        case 'try-acquire':
        case 'renew':
          send(() => {
            if (kv.revision !== a.expectRevision) {
              const f = { conflict: true, reason: 'wrong last sequence' };
              return a.type === 'renew' ? { type: 'renew-failed', ...f } : { type: 'acquire-failed', ...f };
            }
            kv.revision = ++seq;
            kv.value = { holder };
            return a.type === 'renew' ? { type: 'renewed', revision: kv.revision, sentAt: 0 } : { type: 'acquired', revision: kv.revision, sentAt: 0 };
          }, a.type === 'renew' ? { type: 'renew-failed', ...timeout } : { type: 'acquire-failed', ...timeout });
          return;
        case 'release':
          send(() => {
            if (kv.revision === a.expectRevision) {
              kv.revision = ++seq;
              kv.value = null;
            }
            return { type: 'tick' };
          }, { type: 'tick' });
          return;
        case 'elected':
          r.lastActive = now;
          r.leading = { holder: i, from: now, to: Infinity, term: a.term };
          intervals.push(r.leading);
          return;
        case 'step-down':
          r.leading!.to = r.lastActive;
          r.leading = undefined;
          return;
      }
    };

    for (const [i] of replicas.entries()) push({ at: i * 7, replica: i, obs: { type: 'tick' } });
    let now = 0;
    while (queue.length > 0 && now < 60_000) {
      queue.sort((x, y) => x.at - y.at);
      const e = queue.shift()!;
      now = e.at;
      const r = replicas[e.replica]!;
      if (e.obs === 'apply') {
        e.apply!();
        continue;
      }
      if (!r.alive) continue;
      if (e.obs.type === 'tick' && e.at !== r.timer && e.at !== r.busyUntil) continue; // a replaced timer
      // A blocked event loop handles nothing until it runs again; then the due timer fires first.
      if (now < r.busyUntil) {
        if (e.obs.type !== 'tick') push({ ...e, at: r.busyUntil + 1 });
        continue;
      }
      const roll = random();
      if (roll < 0.002) {
        // Crash; a fresh process with the same id comes back later.
        if (r.leading) r.leading.to = r.lastActive;
        r.alive = false;
        r.leading = undefined;
        const back = now + 2000;
        push({
          at: back,
          replica: e.replica,
          obs: 'apply',
          apply: () => {
            r.alive = true;
            r.core = new Replica(r.core.settings);
            r.timer = back;
            push({ at: back, replica: e.replica, obs: { type: 'tick' } });
            return undefined;
          },
        });
        continue;
      }
      if (roll < 0.006) {
        // Cut off from the bus for a while; the process keeps running.
        r.cutUntil = now + random() * 3000;
      } else if (roll < 0.01) {
        r.busyUntil = now + random() * 1500;
        r.timer = r.busyUntil;
        push({ at: r.busyUntil, replica: e.replica, obs: { type: 'tick' } });
        if (e.obs.type !== 'tick') push({ ...e, at: r.busyUntil + 1 });
        continue;
      }
      for (const a of r.core.step(e.obs, now)) perform(e.replica, a, now);
      // The last moment this replica acted believing it leads.
      if (r.core.state.phase === 'leader') r.lastActive = now;
    }
    return intervals;
  }

  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i: never two leaders at once, terms grow, and someone leads most of the time', (seed) => {
    const intervals = simulate(seed);
    expect(intervals.length).toBeGreaterThan(0);
    const sorted = [...intervals].sort((x, y) => x.from - y.from);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]!.from, JSON.stringify(sorted.slice(i - 1, i + 1))).toBeGreaterThanOrEqual(sorted[i - 1]!.to);
      expect(sorted[i]!.term).toBeGreaterThan(sorted[i - 1]!.term);
    }
    const led = sorted.reduce((sum, x) => sum + (Math.min(x.to, 60_000) - x.from), 0);
    expect(led / 60_000).toBeGreaterThan(0.5);
  });
});
