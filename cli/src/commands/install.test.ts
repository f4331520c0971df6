import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../context.js';
import { createProgram } from '../program.js';

const dir = mkdtempSync(join(tmpdir(), 'meshbus-install-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function meshbus(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const context: CliContext = { env: {}, cwd: dir, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, signal: new AbortController().signal };
  try {
    await createProgram(context).parseAsync(args, { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, stdout, stderr };
    throw error;
  }
}

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
}

describe('meshbus install', () => {
  it('prints multi-document YAML: CRDs first, the Namespace next, the webhook configuration last', async () => {
    const { exitCode, stdout, stderr } = await meshbus(['install', '--namespace', 'mesh-system']);
    expect(exitCode, stderr).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as Doc);
    expect(docs[0]?.kind).toBe('CustomResourceDefinition');
    expect(docs[8]).toMatchObject({ kind: 'Namespace', metadata: { name: 'mesh-system' } });
    expect(docs.at(-1)?.kind).toBe('MutatingWebhookConfiguration');
    expect(stderr).toContain('no --identity-dir: a new trust anchor and issuer were generated');
  });

  it('prints a JSON List with -o json, with the values of -f files, --set and flags', async () => {
    writeFileSync(join(dir, 'one.yaml'), 'logLevel: debug\ncomponents:\n  gateway:\n    replicas: 2\n');
    writeFileSync(join(dir, 'two.yaml'), 'components:\n  gateway:\n    replicas: 4\n');
    const { exitCode, stdout, stderr } = await meshbus(['install', '-o', 'json', '-f', 'one.yaml', '--values', 'two.yaml', '--set', 'trustDomain=example.org', '--ha', '--nats-url', 'nats://nats.example:4222']);
    expect(exitCode, stderr).toBe(0);
    const list = JSON.parse(stdout) as { kind: string; items: (Doc & { spec?: { replicas?: number } })[] };
    expect(list.kind).toBe('List');
    expect(list.items.find((o) => o.kind === 'Deployment' && o.metadata.name === 'meshbus-gateway')?.spec?.replicas).toBe(4);
    expect(list.items.find((o) => o.kind === 'Deployment' && o.metadata.name === 'meshbus-identity')?.spec?.replicas).toBe(3);
    expect(list.items.some((o) => o.kind === 'StatefulSet')).toBe(false);
    const values = list.items.find((o) => o.metadata.name === 'meshbus-install-values') as unknown as { data: Record<string, string> };
    expect(values.data['values.yaml']).toContain('trustDomain: example.org');
  });

  it('takes the NATS logins of `meshbus nats-auth --users` for an external NATS', async () => {
    const roles = ['destination', 'policy', 'gateway', 'identity', 'injector', 'workload', 'reader', 'tap', 'multicluster'];
    const users = Object.fromEntries(roles.map((role) => [role, { user: `mesh-${role}`, password: `secret-${role}` }]));
    writeFileSync(join(dir, 'nats-users.json'), JSON.stringify(users));
    const { exitCode, stdout, stderr } = await meshbus(['install', '-o', 'json', '--nats-url', 'nats://nats.example:4222', '--nats-users', 'nats-users.json']);
    expect(exitCode, stderr).toBe(0);
    const items = (JSON.parse(stdout) as { items: (Doc & Record<string, unknown>)[] }).items;
    const secret = items.find((o) => o.metadata.name === 'meshbus-nats-users') as unknown as { data: Record<string, string> };
    expect(Buffer.from(secret.data.policy!, 'base64').toString()).toBe('secret-policy');
    expect(Buffer.from(secret.data['auth.conf']!, 'base64').toString()).toContain('user: "mesh-gateway"');
    const policy = items.find((o) => o.kind === 'Deployment' && o.metadata.name === 'meshbus-policy') as unknown as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
    expect(policy.spec.template.spec.containers[0]?.env.find((e) => e.name === 'NATS_USER')?.value).toBe('mesh-policy');
    writeFileSync(join(dir, 'broken-users.json'), JSON.stringify({ destination: users.destination }));
    const broken = await meshbus(['install', '--nats-users', 'broken-users.json']);
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toContain('--nats-users: broken-users.json has no user and password for the policy role');
  });

  it.each<[string[], string]>([
    [['install', '--set', 'ha=maybe'], 'ha: must be true or false, got "maybe"'],
    [['install', '--set', 'webhook.failurePolicy=Never'], 'webhook.failurePolicy: must be one of "Ignore", "Fail"'],
    [['install', '--namespace', 'Not_A_Label'], 'namespace: does not have the right form'],
    [['install', '--nats-url', 'localhost:4222'], 'nats.url: does not have the right form'],
    [['install', '-f', 'missing.yaml'], '-f missing.yaml: cannot read it'],
    [['install', '--identity-dir', 'nowhere'], 'nowhere/ca.crt is missing; create the trust material with `meshbus identity init --dir'],
    [['install', '-o', 'xml'], "argument 'xml' is invalid. Allowed choices are yaml, json"],
    [['install', '--replicas', '3'], "unknown option '--replicas'"],
    [['upgrade', '--kubeconfig', 'missing-kubeconfig'], 'cannot load the kubeconfig missing-kubeconfig'],
    [['serve', 'proxy'], 'serve: unknown component "proxy"; use one of destination, identity, policy, gateway, injector, multicluster'],
  ])('%j exits 2: %s', async (args, message) => {
    const { exitCode, stdout, stderr } = await meshbus(args);
    expect(exitCode).toBe(2);
    expect(stderr).toContain(message);
    expect(stdout).toBe('');
  });
});

describe('meshbus uninstall', () => {
  it('lists what removes the installation given by the flags, CRDs last, and warns about them', async () => {
    const { exitCode, stdout, stderr } = await meshbus(['uninstall', '--namespace', 'mesh-system']);
    expect(exitCode, stderr).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as Doc);
    expect(docs[0]?.kind).toBe('MutatingWebhookConfiguration');
    expect(docs.at(-1)?.kind).toBe('CustomResourceDefinition');
    expect(docs.some((d) => d.kind === 'PodDisruptionBudget' && d.metadata.name === 'meshbus-gateway')).toBe(true);
    expect(docs.find((d) => d.kind === 'Deployment')?.metadata.namespace).toBe('mesh-system');
    expect(stderr).toContain('warning: deleting the 8 CustomResourceDefinitions');
  });
});
