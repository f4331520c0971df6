import { describe, expect, it } from 'vitest';
import { CheckTextWriter, checkReport, summaryLine } from './format.js';
import { anyFailed, fail, pass, runChecks, skip, warn, type Check, type CheckOutcome } from './model.js';

function check(id: string, outcome: CheckOutcome | (() => Promise<CheckOutcome>), options: { category?: string; dependsOn?: string[] } = {}): Check<undefined> {
  return {
    id,
    category: options.category ?? 'kubernetes-api',
    name: `check ${id}`,
    ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}),
    run: typeof outcome === 'function' ? outcome : async () => outcome,
  };
}

describe('runChecks', () => {
  it('runs checks in order and skips those whose dependency failed or was skipped', async () => {
    const ran: string[] = [];
    const track = (id: string, outcome: CheckOutcome) => async () => (ran.push(id), outcome);
    const results = await runChecks(
      [
        check('a', track('a', pass())),
        check('b', track('b', fail('broken'))),
        check('c', track('c', pass()), { dependsOn: ['a', 'b'] }),
        check('d', track('d', pass()), { dependsOn: ['c'] }),
        check('e', track('e', warn('soon')), { dependsOn: ['a'] }),
        check('f', track('f', pass()), { dependsOn: ['e'] }),
      ],
      undefined,
      { timeoutMs: 1000 },
    );
    expect(ran).toEqual(['a', 'b', 'e', 'f']);
    expect(results.map((r) => [r.id, r.outcome])).toEqual([
      ['a', { status: 'pass' }],
      ['b', { status: 'fail', hint: 'broken' }],
      ['c', { status: 'skip', reason: 'needs "check b", which failed' }],
      ['d', { status: 'skip', reason: 'needs "check c", which was skipped' }],
      ['e', { status: 'warn', hint: 'soon' }],
      ['f', { status: 'pass' }],
    ]);
    expect(anyFailed(results)).toBe(true);
    expect(anyFailed(results.filter((r) => r.outcome.status !== 'fail'))).toBe(false);
  });

  it('leaves out a check that does not apply, and those depending on it; a failing answer is the check failing', async () => {
    const ran: string[] = [];
    const applying = (id: string, applies: () => Promise<boolean>, dependsOn?: string[]): Check<undefined> => ({ ...check(id, async () => (ran.push(id), pass()), dependsOn ? { dependsOn } : {}), applies });
    const results = await runChecks(
      [
        check('a', pass()),
        applying('b', async () => false, ['a']),
        check('c', pass(), { dependsOn: ['b'] }),
        applying('d', async () => true, ['a']),
        applying('e', async () => {
          throw new Error('values unreadable');
        }),
        check('f', fail('broken')),
        applying('g', async () => false, ['f']),
      ],
      undefined,
      { timeoutMs: 1000 },
    );
    expect(ran).toEqual(['d']);
    expect(results.map((r) => [r.id, r.outcome.status])).toEqual([
      ['a', 'pass'],
      ['d', 'pass'],
      ['e', 'fail'],
      ['f', 'fail'],
      // Its dependency failed before it could be asked: shown as skipped, as any other.
      ['g', 'skip'],
    ]);
    expect(results.find((r) => r.id === 'e')?.outcome).toEqual({ status: 'fail', hint: 'values unreadable' });
  });

  it('turns an exception into a failure and a slow check into a timeout failure', async () => {
    let aborted = false;
    const results = await runChecks(
      [
        check('throws', async () => {
          throw new Error('GET /x: HTTP 500');
        }),
        check(
          'slow',
          () =>
            new Promise<CheckOutcome>(() => {
              /* never settles */
            }),
        ),
        {
          ...check('listens', pass()),
          run: (_c, signal) => new Promise<CheckOutcome>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve(pass())))),
        },
      ],
      undefined,
      { timeoutMs: 50 },
    );
    expect(results.map((r) => r.outcome)).toEqual([fail('GET /x: HTTP 500'), fail('no answer within 50 ms; raise --timeout if the cluster is slow'), fail('no answer within 50 ms; raise --timeout if the cluster is slow')]);
    expect(aborted).toBe(true);
  });

  it('refuses a dependency on a check that does not run before, and duplicate ids', async () => {
    await expect(runChecks([check('a', pass(), { dependsOn: ['b'] }), check('b', pass())], undefined, { timeoutMs: 10 })).rejects.toThrow('check a depends on b, which does not run before it');
    await expect(runChecks([check('a', pass()), check('a', pass())], undefined, { timeoutMs: 10 })).rejects.toThrow('check a is listed twice');
  });

  it('skips what is left once the run is interrupted', async () => {
    const controller = new AbortController();
    const results = await runChecks([check('a', async () => (controller.abort(), pass())), check('b', pass())], undefined, { timeoutMs: 100, signal: controller.signal });
    expect(results[1]!.outcome).toEqual(skip('the check was interrupted'));
  });
});

describe('check output', () => {
  const results = [
    { id: 'api', category: 'kubernetes-api', name: 'can reach the Kubernetes API', outcome: pass() },
    { id: 'deploy', category: 'meshbus-control-plane', name: 'deployment meshbus-policy is ready', outcome: fail('1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy') },
    { id: 'pods', category: 'meshbus-control-plane', name: 'pods of meshbus-policy are ready', outcome: skip('needs "deployment meshbus-policy is ready", which failed') },
    { id: 'issuer', category: 'meshbus-identity', name: 'issuer is valid', outcome: warn('expires in 3 days\nrotate it') },
  ];

  it('prints categories, marks and indented hints', () => {
    let text = '';
    const writer = new CheckTextWriter((t) => (text += t));
    for (const r of results) writer.result(r);
    writer.summary(results);
    expect(text).toBe(
      [
        'kubernetes-api',
        '√ can reach the Kubernetes API',
        '',
        'meshbus-control-plane',
        '× deployment meshbus-policy is ready',
        '    1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy',
        '- pods of meshbus-policy are ready',
        '    needs "deployment meshbus-policy is ready", which failed',
        '',
        'meshbus-identity',
        '‼ issuer is valid',
        '    expires in 3 days',
        '    rotate it',
        '',
        'Status check results are ×: 1 check failed, 1 warning, 1 skipped',
        '',
      ].join('\n'),
    );
  });

  it('sums up a clean run and one with warnings only', () => {
    expect(summaryLine([results[0]!])).toBe('Status check results are √');
    expect(summaryLine([results[0]!, results[3]!])).toBe('Status check results are ‼: 0 checks failed, 1 warning');
  });

  it('gives one JSON report grouped by category', () => {
    expect(checkReport(results)).toEqual({
      success: false,
      summary: { pass: 1, fail: 1, warn: 1, skip: 1 },
      categories: [
        { name: 'kubernetes-api', checks: [{ id: 'api', name: 'can reach the Kubernetes API', result: 'pass' }] },
        {
          name: 'meshbus-control-plane',
          checks: [
            { id: 'deploy', name: 'deployment meshbus-policy is ready', result: 'fail', hint: '1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy' },
            { id: 'pods', name: 'pods of meshbus-policy are ready', result: 'skip', reason: 'needs "deployment meshbus-policy is ready", which failed' },
          ],
        },
        { name: 'meshbus-identity', checks: [{ id: 'issuer', name: 'issuer is valid', result: 'warn', hint: 'expires in 3 days\nrotate it' }] },
      ],
    });
  });
});
