import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type FakeKubeApi } from './fake-kube-api.js';
import { waitFor } from './wait.js';

// The real kubectl (Debian's kubernetes-client, which CI installs) against the fake: it must be
// on PATH, and the test fails without it.

const run = promisify(execFile);

const manifests = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  colour: blue
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: gadgets
    singular: gadget
    kind: Gadget
    shortNames: [gd]
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                colour: {type: string}
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Colour, type: string, jsonPath: .spec.colour}
`;

const gadget = `apiVersion: example.com/v1
kind: Gadget
metadata:
  name: sprocket
  namespace: shop
spec:
  size: 7
  colour: green
`;

describe('kubectl against the fake Kubernetes API server', () => {
  let kube: FakeKubeApi;
  let dir: string;
  let kubectl: (...args: string[]) => Promise<string>;

  beforeAll(async () => {
    kube = await startFakeKubeApi({ tls: true });
    dir = await mkdtemp(join(tmpdir(), 'fake-kube-kubectl-'));
    await writeFile(join(dir, 'kubeconfig'), kube.kubeconfig());
    await writeFile(join(dir, 'manifests.yaml'), manifests);
    await writeFile(join(dir, 'gadget.yaml'), gadget);
    const common = ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache')];
    kubectl = async (...args) => {
      try {
        const { stdout } = await run('kubectl', [...common, ...args], { timeout: 20_000, env: { ...process.env, HOME: dir } });
        return stdout;
      } catch (error) {
        const e = error as { code?: string; stderr?: string; message: string };
        if (e.code === 'ENOENT') throw new Error('kubectl is not on PATH: install kubernetes-client (CI does)');
        throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr || e.message}`);
      }
    };
  });
  afterAll(async () => {
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const rows = (table: string) => table.trim().split('\n').map((line) => line.trim().split(/\s+/));

  it('lists pods and namespaces', async () => {
    kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    kube.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'default', name: 'web-1' }, spec: { containers: [] } });
    const pods = rows(await kubectl('get', 'pods', '-A'));
    expect(pods[0]).toEqual(['NAMESPACE', 'NAME', 'AGE']);
    expect(pods.slice(1).map((r) => r.slice(0, 2))).toEqual([['default', 'web-1']]);
    expect(rows(await kubectl('get', 'ns')).map((r) => r[0])).toEqual(['NAME', 'default']);
  });

  it('creates a namespace, a config map and a CRD, then a custom resource shown with its printer columns', async () => {
    const created = await kubectl('create', '-f', join(dir, 'manifests.yaml'));
    expect(created).toContain('namespace/shop created');
    expect(created).toContain('configmap/settings created');
    expect(created).toContain('customresourcedefinition.apiextensions.k8s.io/gadgets.example.com created');
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'settings' })?.data).toEqual({ colour: 'blue' });

    expect(await kubectl('create', '-f', join(dir, 'gadget.yaml'))).toContain('gadget.example.com/sprocket created');
    const gadgets = rows(await kubectl('get', 'gadgets', '-n', 'shop'));
    expect(gadgets).toEqual([
      ['NAME', 'SIZE', 'COLOUR'],
      ['sprocket', '7', 'green'],
    ]);
    expect(await kubectl('get', 'gd', 'sprocket', '-n', 'shop', '-o', 'jsonpath={.spec.colour}')).toBe('green');
    await expect(kubectl('create', '-f', join(dir, 'gadget.yaml'))).rejects.toThrow(/AlreadyExists/);

    const resources = rows(await kubectl('api-resources'));
    expect(resources).toContainEqual(['gadgets', 'gd', 'example.com/v1', 'true', 'Gadget']);
    expect(resources).toContainEqual(['deployments', 'deploy', 'apps/v1', 'true', 'Deployment']);
  });

  it('watches pods and sees one created afterwards', async () => {
    const child = spawn('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), 'get', 'pods', '-n', 'default', '-w'], { env: { ...process.env, HOME: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const spawnError = new Promise<never>((_, reject) => child.on('error', (e) => reject(new Error(`kubectl could not be started: ${e.message}`))));
    const waitForOutput = async (text: string) => {
      const deadline = Date.now() + 15_000;
      while (!stdout.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`kubectl get -w did not print ${text}: stdout ${stdout}, stderr ${stderr}`);
        await Promise.race([new Promise((r) => setTimeout(r, 50)), spawnError]);
      }
    };
    try {
      await waitForOutput('web-1');
      await waitFor(() => kube.requests.some((r) => r.path === '/api/v1/namespaces/default/pods' && r.query.watch === 'true'), { what: 'the watch of kubectl get -w' });
      kube.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'default', name: 'web-2' }, spec: { containers: [] } });
      await waitForOutput('web-2');
    } finally {
      child.kill();
      await exited;
    }
  });

  it('deletes objects, and a deleted CRD takes its resources with it', async () => {
    expect(await kubectl('delete', 'configmap', 'settings', '-n', 'shop')).toContain('configmap "settings" deleted');
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'settings' })).toBeUndefined();
    await expect(kubectl('get', 'configmap', 'settings', '-n', 'shop')).rejects.toThrow(/NotFound/);
    expect(await kubectl('delete', 'crd', 'gadgets.example.com')).toContain('deleted');
    expect(rows(await kubectl('api-resources')).map((r) => r[0])).not.toContain('gadgets');
  });
});
