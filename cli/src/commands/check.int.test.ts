import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentName } from '@meshbus/install';
import { freePort, startFakeKubeApi, startNats, type FakeKubeApi, type NatsCluster } from '@meshbus/testing';
import { CommanderError } from 'commander';
import { runCli } from '../cli-process.js';
import type { CliContext } from '../context.js';
import { createProgram } from '../program.js';
import type { CheckReport } from '../check/format.js';
import { applyAll, installationCertificates, installationObjects, serveBackends, startWebhookServer } from '../check/test-installation.js';

let cwd: string;
let nats: NatsCluster;
let webhook: Awaited<ReturnType<typeof startWebhookServer>>;
/** A healthy installation. */
let healthy: FakeKubeApi;
let healthyKubeconfig: string;
/** The same with one replica of the policy deployment not ready. */
let broken: FakeKubeApi;
let kubeconfig: string;

/** A kubeconfig file for a plain HTTP server (which needs insecure-skip-tls-verify). */
function kubeconfigFor(server: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
    'current-context': 'fake',
  });
}

/** The program in this process, as main.ts runs it: the exit code and everything written. */
async function runInProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  let output = '';
  const context: CliContext = { env, cwd, stdout: { write: (s: string) => (output += s) }, stderr: { write: (s: string) => (output += s) }, signal: new AbortController().signal };
  try {
    await createProgram(context).parseAsync(args, { from: 'user' });
    return { code: 0, output };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, output };
    throw error;
  }
}

/** A fake API server over HTTPS holding `objects`, its service proxy reaching the webhook and NATS. */
async function clusterWith(objects: Parameters<typeof applyAll>[1]): Promise<FakeKubeApi> {
  const fake = await startFakeKubeApi({ tls: true });
  applyAll(fake, objects);
  serveBackends(fake, { webhookUrl: webhook.url, natsMonitorUrl: `http://127.0.0.1:${nats.nodes[0]!.monitorPort}` });
  return fake;
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'meshbus-check-cli-'));
  const certificates = installationCertificates();
  [nats, webhook] = await Promise.all([startNats(), startWebhookServer(certificates.serving)]);
  const objects = installationObjects({ certificates });
  healthy = await clusterWith(objects);
  broken = await clusterWith(
    objects.map((o) => (o.kind === 'Deployment' && o.metadata.name === componentName('policy') ? { ...o, status: { ...(o.status as object), readyReplicas: 1 } } : o)),
  );
  // The kubeconfig files the fake writes: its HTTPS server, the CA that verifies it, a bearer token.
  healthyKubeconfig = join(cwd, 'healthy');
  kubeconfig = join(cwd, 'broken');
  await Promise.all([writeFile(healthyKubeconfig, healthy.kubeconfig()), writeFile(kubeconfig, broken.kubeconfig())]);
});

afterAll(async () => {
  await Promise.all([healthy?.stop(), broken?.stop(), webhook?.[Symbol.asyncDispose](), nats?.stop()]);
  await rm(cwd, { recursive: true, force: true });
});

const categories = ['kubernetes-api', 'meshbus-control-plane', 'meshbus-nats', 'meshbus-webhook', 'meshbus-identity'];

describe('meshbus check (the built CLI)', () => {
  it.each([
    [['check', '--timeout', 'soon'], '--timeout "soon" must be a duration such as 500ms, 5s or 1m'],
    [['check', '--output', 'yaml'], "Allowed choices are text, json"],
    [['check', '--namespace', 'Mesh_Bus'], 'namespace "Mesh_Bus" must be a DNS label'],
    [['check', '--pre', '--proxy'], '--pre checks a cluster before installing, --proxy an installation: give one of them'],
    [['check', '--kubeconfig', '/nonexistent/kubeconfig'], 'cannot read the kubeconfig /nonexistent/kubeconfig'],
    [['check', '--context', 'prod'], '--context prod is not in the kubeconfig (contexts: fake)'],
  ])('exits 2 for %j', async (args, message) => {
    const { code, output } = await runInProcess(args, { KUBECONFIG: kubeconfig });
    expect(code).toBe(2);
    expect(output).toContain(message);
  });

  it('passes every check of a healthy installation and exits 0', async () => {
    const cli = runCli(['check', '--kubeconfig', healthyKubeconfig], { cwd });
    const { code } = await cli.exited;
    const out = cli.output();
    expect(out).toMatch(/\nStatus check results are √\n$/);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    const checks = lines.filter((l) => /^\S /.test(l));
    expect(checks.length).toBeGreaterThanOrEqual(20);
    // Each line is a category, a passed check, the detail under one, a blank line or the summary.
    expect(lines.filter((l) => !(l === '' || categories.includes(l) || l.startsWith('√ ') || l.startsWith('    ') || l === 'Status check results are √'))).toEqual([]);
    expect(out).toContain('\n√ webhook answers a dry-run admission review\n');
    expect(out).toContain('\n√ NATS is reachable\n');
    expect(lines.filter((l) => categories.includes(l))).toEqual(categories);
  });

  it('prints each check with its hint and exits 1 when one fails', async () => {
    const cli = runCli(['check'], { cwd, env: { KUBECONFIG: kubeconfig } });
    expect((await cli.exited).code).toBe(1);
    const out = cli.output();
    expect(out.split('\n').filter((l) => /^[×‼] /.test(l))).toEqual(['× deployment meshbus-policy is ready']);
    expect(out).toMatch(/^kubernetes-api\n√ can reach the Kubernetes API\n/);
    expect(out).toContain('\nmeshbus-control-plane\n√ control namespace exists\n    namespace meshbus\n');
    expect(out).toContain('\n× deployment meshbus-policy is ready\n    1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy\n');
    expect(out).toContain('\n- pods of meshbus-policy are ready\n    needs "deployment meshbus-policy is ready", which failed\n');
    expect(out).toContain('\n√ issuer certificate chains to the trust anchors\n');
    expect(out).toMatch(/\nStatus check results are ×: 1 check failed, 1 skipped\n$/);
  });

  it('writes one JSON report with -o json, reading --kubeconfig', async () => {
    const { code, output } = await runInProcess(['check', '-o', 'json', '--kubeconfig', kubeconfig, '--timeout', '2s']);
    expect(code).toBe(1);
    const report = JSON.parse(output) as CheckReport;
    expect(report.success).toBe(false);
    const deployment = report.categories.flatMap((c) => c.checks).find((c) => c.id === 'cp.deployment.policy');
    expect(deployment).toEqual({ id: 'cp.deployment.policy', name: 'deployment meshbus-policy is ready', result: 'fail', hint: '1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy' });
  });

  it('fails the first check, and skips the rest, when the API server is not there', async () => {
    const down = join(cwd, 'down');
    await writeFile(down, kubeconfigFor(`http://127.0.0.1:${await freePort()}`, 'x'));
    const cli = runCli(['check', '--pre'], { cwd, env: { KUBECONFIG: down } });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toMatch(/^kubernetes-api\n× can reach the Kubernetes API\n    http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(cli.output()).toContain('- can create CustomResourceDefinitions\n    needs "can reach the Kubernetes API", which failed\n');
  });
});
