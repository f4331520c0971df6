import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventExamples, subjects } from '@meshbus/bus-schemas';
import { waitFor } from '@meshbus/testing';
import { publishInvalid, runExample, startTestBus, type TestBus } from './bus.js';
import { startPostgres, type Postgres } from './postgres.js';

const issued = (identity: string, serial: string) => ({ identity, serial, notAfter: '2026-12-02T10:00:00.000Z', replica: 'identity-1', issuerSerial: '1a2b' });

describe('the audit log example (PostgreSQL)', () => {
  let bus: TestBus;
  let postgres: Postgres;

  beforeAll(async () => {
    [bus, postgres] = await Promise.all([startTestBus(), startPostgres()]);
  });
  afterAll(async () => {
    await postgres?.stop();
    await bus?.close();
  });

  const count = async () => (await postgres.query<{ n: number }>('SELECT count(*) AS n FROM meshbus_audit'))[0]!.n;
  const tableExists = async () => (await postgres.query<{ t: string | null }>("SELECT to_regclass('meshbus_audit') AS t"))[0]!.t !== null;
  const env = () => ({ NATS_URL: bus.nats.url, NATS_USER: bus.reader.user, NATS_PASSWORD: bus.reader.password, ...postgres.env });

  it('records issued certificates and policy changes once, even when two loggers read the same events, and resumes after the last stored sequence', async () => {
    const p = bus.publisher;
    const certs = subjects.certificateIssued;
    await p.publish('certificateIssued', certs, 'web.shop.serviceaccount.identity.meshbus.cluster.local', issued('web.shop.serviceaccount.identity.meshbus.cluster.local', 'aa01'));
    await p.publish('inboundPolicy', eventExamples.inboundPolicy.natsSubject, eventExamples.inboundPolicy.subject, eventExamples.inboundPolicy.data);
    await p.publish('policyRejected', subjects.policyRejected, eventExamples.policyRejected.subject, eventExamples.policyRejected.data);
    await p.publish('policyStatus', eventExamples.policyStatus.natsSubject, eventExamples.policyStatus.subject, eventExamples.policyStatus.data);
    await p.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', { namespace: 'shop', service: 'web', port: 80, endpoints: [] });
    await p.publish('leaderChanged', subjects.leader('policy'), 'policy', { role: 'policy', holder: 'policy-1', term: 3 });
    await publishInvalid(bus.nc, certs, 'io.meshbus.v1.identity.certificate-issued', 'certificate-issued', issued('x', 'NOT-HEX'));
    await p.publish('certificateIssued', certs, 'api.shop.serviceaccount.identity.meshbus.cluster.local', issued('api.shop.serviceaccount.identity.meshbus.cluster.local', 'aa02'));
    expect(await tableExists()).toBe(false);

    // Two loggers at once on an empty table: each row is stored by one of them only.
    const first = runExample('audit-log', env());
    const second = runExample('audit-log', env());
    const lines = (text: string, word: RegExp) => text.split('\n').filter((l) => word.test(l)).length;
    const both = () => first.output() + second.output();
    const fail = (e: Error) => {
      throw new Error(`${e.message}; output: ${first.output()}\n---\n${second.output()}`);
    };
    await waitFor(async () => (await tableExists()) && (await count()) === 5, { what: 'the five events to be stored', timeoutMs: 20_000 }).catch(fail);
    await waitFor(() => lines(both(), /^recorded /) >= 5 && lines(both(), /^following /) === 12, { what: 'both loggers to follow every feed' }).catch(fail);
    // Every row exists now: the loggers may only say "already recorded" from here on.
    await new Promise((r) => setTimeout(r, 300));
    expect(lines(both(), /^recorded /)).toBe(5);
    for (const logger of [first, second]) {
      if (logger.output().includes('certificate-issued (MESHBUS_EVENTS) from the start')) expect(logger.output()).toMatch(/skipped meshbus\.v1\.events\.identity\.certificate-issued \(MESHBUS_EVENTS seq \d+\): does not match https:\/\/meshbus\.io\/schemas\/v1\/certificate-issued\.schema\.json: \/serial must match pattern/);
      expect(logger.output()).not.toMatch(/endpoints|leader|DeprecationWarning/);
    }
    expect(both()).toContain('following meshbus.v1.events.identity.certificate-issued (MESHBUS_EVENTS) from the start');
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect((await second.stop()).code).toBe(0);

    const rows = await postgres.query('SELECT stream, category, type, subject FROM meshbus_audit ORDER BY stream, seq');
    expect(rows).toEqual([
      { stream: 'MESHBUS_EVENTS', category: 'certificate', type: 'io.meshbus.v1.identity.certificate-issued', subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local' },
      { stream: 'MESHBUS_EVENTS', category: 'policy', type: 'io.meshbus.v1.policy.rejected', subject: 'shop/HTTPRoute/no-parent' },
      { stream: 'MESHBUS_EVENTS', category: 'certificate', type: 'io.meshbus.v1.identity.certificate-issued', subject: 'api.shop.serviceaccount.identity.meshbus.cluster.local' },
      { stream: 'MESHBUS_STATE', category: 'policy', type: 'io.meshbus.v1.policy.inbound.snapshot', subject: 'authn-ns/b' },
      { stream: 'MESHBUS_STATE', category: 'policy', type: 'io.meshbus.v1.policy.status.snapshot', subject: 'shop/NetworkAuthentication/office' },
    ]);

    // While no logger runs: one more certificate and a policy status removed.
    const third = await p.publish('certificateIssued', certs, 'db.shop.serviceaccount.identity.meshbus.cluster.local', issued('db.shop.serviceaccount.identity.meshbus.cluster.local', 'aa03'));
    await p.publish('policyStatusDeleted', eventExamples.policyStatus.natsSubject, eventExamples.policyStatus.subject, { reason: 'resource removed' });
    const again = runExample('audit-log', env());
    await waitFor(async () => (await count()) === 7, { what: 'the two new events', timeoutMs: 20_000 });
    await waitFor(() => lines(again.output(), /^recorded /) === 2, { what: 'the log lines' });
    expect(again.output()).toContain(`recorded MESHBUS_EVENTS:${third} io.meshbus.v1.identity.certificate-issued db.shop.serviceaccount.identity.meshbus.cluster.local`);
    expect(again.output()).toMatch(/following meshbus\.v1\.events\.identity\.certificate-issued \(MESHBUS_EVENTS\) after sequence \d+/);
    expect(again.output()).toContain('recorded MESHBUS_STATE:');
    expect(again.output()).not.toContain('already recorded');
    expect((await again.stop()).code).toBe(0);

    // Reading everything again changes nothing. The state stream keeps the last message of each
    // key only: the policy status snapshot is gone (its tombstone replaced it), the row stays.
    const replay = runExample('audit-log', { ...env(), AUDIT_FROM: 'start' });
    await waitFor(() => lines(replay.output(), /^already recorded /) === 6, { what: 'the replay' }).catch((e: Error) => {
      throw new Error(`${e.message}; output: ${replay.output()}`);
    });
    expect(lines(replay.output(), /^recorded /)).toBe(0);
    expect(await count()).toBe(7);
    expect((await replay.stop()).code).toBe(0);

    const certificates = await postgres.query<{ identity: string; serial: string; not_after: string; issuer_serial: string }>(
      "SELECT identity, serial, to_char(not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS not_after, issuer_serial FROM meshbus_certificates_issued ORDER BY seq",
    );
    expect(certificates.map((r) => [r.identity.split('.')[0], r.serial, r.not_after, r.issuer_serial])).toEqual([
      ['web', 'aa01', '2026-12-02T10:00:00Z', '1a2b'],
      ['api', 'aa02', '2026-12-02T10:00:00Z', '1a2b'],
      ['db', 'aa03', '2026-12-02T10:00:00Z', '1a2b'],
    ]);
    const tombstone = await postgres.query("SELECT data FROM meshbus_audit WHERE type = 'io.meshbus.v1.policy.status.deleted'");
    expect(tombstone).toEqual([{ data: { reason: 'resource removed' } }]);
  });

  it('says what is wrong when the database cannot be reached, or a setting is bad', async () => {
    const logger = runExample('audit-log', { ...env(), PGPORT: '1' });
    expect((await logger.exited).code).toBe(1);
    expect(logger.output()).toMatch(/^audit-log: .*(ENOENT|ECONNREFUSED|connect)/m);
    const bad = runExample('audit-log', { ...env(), AUDIT_FROM: 'yesterday' });
    expect((await bad.exited).code).toBe(2);
    expect(bad.output()).toContain('audit-log: AUDIT_FROM: must be last (resume after the last stored sequence) or start (read all the streams keep again), got "yesterday"');
  });
});
