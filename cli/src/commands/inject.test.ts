import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { registerInjectCommands } from './inject.js';

async function meshbus(args: string[], stdin = ''): Promise<{ exitCode: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = new Command('meshbus').exitOverride().configureOutput({ writeOut: (t) => (out += t), writeErr: (t) => (err += t) });
  const context = { env: {}, cwd: '/', stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, signal: new AbortController().signal };
  registerInjectCommands(program, context, () => stdin);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { exitCode: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, out, err };
    throw error;
  }
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{ containerPort: 8080 }]
`;
const cronJob = `apiVersion: batch/v1
kind: CronJob
metadata: { name: report }
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: report, image: example/report:1 }]
`;
const service = `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 80 }] }
`;

const dir = mkdtempSync(join(tmpdir(), 'meshbus-inject-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('meshbus inject / uninject', () => {
  it('injects every workload of a multi-document file, leaves other objects alone, and the result validates', async () => {
    const file = join(dir, 'app.yaml');
    writeFileSync(file, `${deployment}---\n${service}---\n${cronJob}`);
    const run = await meshbus(['inject', file, '--native-sidecar']);
    expect(run.exitCode).toBe(0);
    const [d, s, c] = docs(run.out);
    expect(() => new Deployment(d as never).validate()).not.toThrow();
    expect(() => new CronJob(c as never).validate()).not.toThrow();
    expect(d!.spec.template.spec.initContainers.map((x: { name: string }) => x.name)).toEqual(['meshbus-proxy-init', 'meshbus-proxy']);
    expect(d!.spec.template.metadata.annotations['meshbus.io/inject']).toBe('enabled');
    expect(c!.spec.jobTemplate.spec.template.spec.initContainers[1].restartPolicy).toBe('Always');
    expect(s).toEqual(docs(service)[0]);
    expect(run.err).toContain('Deployment shop/web: injected');
    expect(run.err).toContain('CronJob report: injected');

    // Injecting again changes nothing; uninject gives back the original pod specs.
    const again = await meshbus(['inject'], run.out);
    expect(docs(again.out)).toEqual(docs(run.out));
    expect(again.err).toContain('skipped: the pod already has a meshbus-proxy container');
    const back = await meshbus(['uninject', '-'], run.out);
    expect(back.exitCode).toBe(0);
    const [d2, , c2] = docs(back.out);
    expect(d2!.spec.template.spec).toEqual(docs(deployment)[0]!.spec.template.spec);
    expect(c2!.spec.jobTemplate.spec.template.spec).toEqual(docs(cronJob)[0]!.spec.jobTemplate.spec.template.spec);
  });

  it('reads Lists and Pods from stdin, and respects a pod that says disabled', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [docs(deployment)[0], { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'meshbus.io/inject': 'disabled' } }, spec: { containers: [{ name: 'a', image: 'a:1' }] } }] };
    const run = await meshbus(['inject'], JSON.stringify(list));
    expect(run.exitCode).toBe(0);
    const [out] = docs(run.out);
    expect(out!.items[0].spec.template.spec.containers[0].name).toBe('meshbus-proxy');
    expect(out!.items[1].spec.containers).toHaveLength(1);
    expect(run.err).toContain('Pod p: skipped: the pod is annotated meshbus.io/inject: disabled');
  });

  it('with --trust-anchors gives the proxy the anchors in its environment and their real hash; without, mounts the ConfigMap', async () => {
    const anchors = join(dir, 'ca.crt');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';
    writeFileSync(anchors, pem);
    writeFileSync(join(dir, 'gw.crt'), pem.replace('test', 'gateway'));
    const proxyOf = (out: string) => {
      const pod = docs(out)[0]!.spec.template;
      const env = Object.fromEntries((pod.spec.containers[0].env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
      return { env, annotations: pod.metadata.annotations as Record<string, string>, volumes: (pod.spec.volumes as Array<{ name: string }>).map((v) => v.name) };
    };
    const { createHash } = await import('node:crypto');
    const withAnchors = proxyOf((await meshbus(['inject', '--trust-anchors', anchors, '--gateway-ca', join(dir, 'gw.crt')], deployment)).out);
    expect(withAnchors.env.MESHBUS_PROXY_TRUST_ANCHORS_PEM).toBe(pem);
    expect(withAnchors.env.MESHBUS_PROXY_GATEWAY_CA_PEM).toContain('MIIBgateway');
    expect(withAnchors.annotations['meshbus.io/trust-root-sha256']).toBe(createHash('sha256').update(pem).digest('hex'));
    expect(withAnchors.volumes).toEqual(['meshbus-identity-token']);
    const without = proxyOf((await meshbus(['inject'], deployment)).out);
    expect(without.env.MESHBUS_PROXY_TRUST_ANCHORS).toBe('/var/run/meshbus/trust-anchors/ca.crt');
    expect(without.annotations['meshbus.io/trust-root-sha256']).toBe('unknown');
    expect(without.volumes).toEqual(['meshbus-identity-token', 'meshbus-trust-anchors']);
    writeFileSync(join(dir, 'empty.crt'), 'nothing here');
    expect(await meshbus(['inject', '--trust-anchors', join(dir, 'empty.crt')], deployment)).toMatchObject({ exitCode: 2, err: expect.stringContaining('--trust-anchors: ') });
  });

  it('exits 2 with a clear message on bad input', async () => {
    const notYaml = await meshbus(['inject'], 'kind: [unclosed');
    expect(notYaml.exitCode).toBe(2);
    expect(notYaml.err).toContain('document 1: not YAML');
    const noKind = await meshbus(['inject'], 'hello: world\n');
    expect(noKind).toMatchObject({ exitCode: 2, err: expect.stringContaining('not a Kubernetes object (no kind)') });
    const bad = deployment.replace('metadata: { labels: { app: web } }', "metadata: { labels: { app: web }, annotations: { 'config.meshbus.io/proxy-cpu-limit': lots } }");
    const refused = await meshbus(['inject'], bad);
    expect(refused).toMatchObject({ exitCode: 2, out: '', err: expect.stringContaining('Deployment shop/web: annotation config.meshbus.io/proxy-cpu-limit: "lots" is not allowed') });
    expect((await meshbus(['inject', join(dir, 'missing.yaml')])).exitCode).toBe(2);
    expect((await meshbus(['inject'], '')).err).toContain('holds no Kubernetes object');
  });
});
