import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { natsInboxPrefix, silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { LeaderElection, leaseBucket } from './leader-election.js';

const leaseMs = 600;
const login = { user: 'destination', pass: 'destination-pw-0123456789' };

/** One replica campaigning on its own connection, as the destination role, recording what it was told. */
class Candidate {
  readonly terms: number[] = [];
  readonly deposedAt: number[] = [];
  readonly violations: string[] = [];
  election!: LeaderElection;
  nc!: NatsConnection;

  constructor(readonly holder: string) {}

  async start(url: string): Promise<this> {
    this.nc = await connect({ servers: url, ...login, inboxPrefix: natsInboxPrefix('destination') });
    void (async () => {
      for await (const s of this.nc.status()) if (s.permissionContext) this.violations.push(`${s.permissionContext.operation} ${s.permissionContext.subject}`);
    })();
    this.election = new LeaderElection({
      nc: this.nc,
      role: 'test-role',
      holder: this.holder,
      leaseMs,
      logger: silentLogger(),
      onElected: (term) => {
        this.terms.push(term);
      },
      onDeposed: () => {
        this.deposedAt.push(Date.now());
      },
    });
    await this.election.start();
    return this;
  }
}

describe('LeaderElection on a real nats-server, with the destination NATS user', () => {
  let nats: NatsCluster;
  const candidates: Candidate[] = [];

  beforeAll(async () => {
    nats = await startNats({ authorization: natsAuthorizationConfig([{ user: login.user, password: login.pass, role: 'destination' }]) });
  });
  afterAll(async () => {
    for (const c of candidates) await c.nc.close().catch(() => undefined);
    await nats?.stop();
  });

  it('elects one leader, hands over after a crash no sooner than a lease after the last renewal, and at once on release', async () => {
    const [a, b] = await Promise.all([new Candidate('a').start(nats.url), new Candidate('b').start(nats.url)]);
    candidates.push(a!, b!);
    const leader = await waitFor(() => candidates.find((c) => c.election.isLeader), { what: 'a leader' });
    const standby = candidates.find((c) => c !== leader)!;
    // Several renewal periods: still exactly one leader.
    await new Promise((r) => setTimeout(r, leaseMs * 2));
    expect(candidates.filter((c) => c.election.isLeader)).toEqual([leader]);
    expect(standby.terms).toEqual([]);

    // The standby learns of renewals through its watch of the key.
    const kv = await leader.nc.jetstream().views.kv(leaseBucket);
    const lastRenewal = async () => (await kv.get('test-role'))!.revision;
    const before = await lastRenewal();
    await new Promise((r) => setTimeout(r, leaseMs));
    expect(await lastRenewal()).toBeGreaterThan(before);

    // When each revision of the key was seen, as the standby's watch sees them.
    const seen: { revision: number; at: number }[] = [];
    const watch = await kv.watch({ key: 'test-role' });
    void (async () => {
      for await (const e of watch) seen.push({ revision: e.revision, at: Date.now() });
    })();
    await new Promise((r) => setTimeout(r, leaseMs / 2));

    // A crash: the connection drops, nothing is released.
    const renewedRevision = await lastRenewal();
    const crashedAt = Date.now();
    await leader.nc.close();
    await waitFor(() => standby.election.isLeader, { what: 'standby takes over', timeoutMs: 5000 });
    const tookOverAt = Date.now();
    const takeover = tookOverAt - crashedAt;
    // Safety: not before a whole lease after the last renewal was seen (a little slack for two watchers' delivery).
    const lastSeen = seen.filter((e) => e.revision < standby.terms[0]!).at(-1)!;
    expect(tookOverAt - lastSeen.at).toBeGreaterThanOrEqual(leaseMs - 20);
    watch.stop();
    expect(standby.terms).toHaveLength(1);
    expect(standby.terms[0]!).toBeGreaterThan(leader.terms.at(-1)!);
    expect(standby.terms[0]!).toBeGreaterThan(renewedRevision);
    console.log(`lease ${leaseMs} ms: crash -> takeover ${takeover} ms`);

    // A third replica joins; the leader releases on stop and the newcomer takes over at once.
    const c = await new Candidate('c').start(nats.url);
    candidates.push(c);
    await new Promise((r) => setTimeout(r, leaseMs));
    expect(c.election.isLeader).toBe(false);
    const stoppedAt = Date.now();
    await standby.election.stop();
    expect(standby.election.isLeader).toBe(false);
    expect(standby.deposedAt).toHaveLength(1);
    await waitFor(() => c.election.isLeader, { what: 'newcomer takes over after the release', timeoutMs: 5000 });
    const released = Date.now() - stoppedAt;
    console.log(`release -> takeover ${released} ms`);
    expect(released).toBeLessThan(leaseMs);
    expect(c.terms[0]!).toBeGreaterThan(standby.terms[0]!);
    await c.election.stop();

    for (const x of candidates) expect(x.violations, x.holder).toEqual([]);
  });
});
