import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { connect as tlsConnect } from 'node:tls';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startFakeKubeApi, startNats, startProcess, waitFor, type FakeKubeApi, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { podCreateReview } from '@meshbus/injector';

/*
 * The operator's path on the fake API server, with the real tools: `meshbus check --pre`,
 * `meshbus install | kubectl apply -f -`, the cluster's part played here (workload status, pods,
 * the injector's endpoints, the real injector and a real nats-server behind the API server's
 * service proxy), `meshbus check` and `--proxy`, `meshbus upgrade | kubectl apply -f -`, and
 * `meshbus uninstall | kubectl delete -f -`. Every name used here is read from the rendered
 * objects, so the test fails when what install renders and what check looks for drift apart.
 */

// Rendered objects and API answers are read by path.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
type Obj = Record<string, Loose> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: Loose } };

const cliMain = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, feeding it `input`; never blocks this process (the fake API server lives here). */
function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** The built CLI, with no NATS_URL or KUBECONFIG from the outside. */
function meshbus(args: string[], input?: string): Promise<Ran> {
  const { NATS_URL: _n, KUBECONFIG: _k, ...env } = process.env;
  return run(process.execPath, [cliMain, ...args], { env, ...(input === undefined ? {} : { input }) });
}

const objectsOf = (yaml: string): Obj[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

function find(objects: readonly Obj[], kind: string, name: string): Obj {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`the render has no ${kind} ${name}`);
  return found;
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

interface CheckResult {
  id: string;
  name: string;
  result: string;
  hint?: string;
  reason?: string;
  detail?: string;
}

/** `meshbus check -o json …`: the exit code and every check's result. */
async function check(kubeconfig: string, ...extra: string[]): Promise<{ code: number | null; checks: CheckResult[]; raw: string }> {
  const ran = await meshbus(['check', '--kubeconfig', kubeconfig, '-o', 'json', '--timeout', '10s', ...extra]);
  let report: { categories: { checks: CheckResult[] }[] };
  try {
    report = JSON.parse(ran.stdout) as typeof report;
  } catch {
    throw new Error(`meshbus check printed no JSON report (exit ${ran.code}): ${ran.stdout}${ran.stderr}`);
  }
  return { code: ran.code, checks: report.categories.flatMap((c) => c.checks), raw: ran.stdout + ran.stderr };
}

const notPassed = (checks: readonly CheckResult[]) => checks.filter((c) => c.result !== 'pass').map((c) => `${c.result} ${c.name}${c.hint ?? c.reason ? `: ${c.hint ?? c.reason}` : ''}`);

describe('meshbus install output and meshbus check agree, on the fake API server with kubectl', () => {
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;
  let nats: NatsCluster | undefined;
  let injector: RunningProcess | undefined;
  let rendered: Obj[];
  let namespace: string;
  /** Objects of kinds the fake did not serve at install time, stored with api.apply. */
  let storedDirectly: string[] = [];

  /** A request to the fake over HTTPS, as a client with the kubeconfig's token and CA would send it. */
  function kube(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: Loose }> {
    const url = new URL(path, api.url);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method, ca: api.caPem, headers: { authorization: `Bearer ${api.bearerToken}`, 'content-type': contentType, accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // kept as text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async function kubeOk(method: string, path: string, body?: unknown, contentType?: string): Promise<Loose> {
    const res = await kube(method, path, body, contentType);
    if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  const mergePatch = 'application/merge-patch+json';

  async function kubectl(args: string[], input?: string): Promise<Ran> {
    return run('kubectl', ['--kubeconfig', kubeconfig, ...args], input === undefined ? {} : { input });
  }

  /**
   * `kubectl apply -f -` of `objects`, but for those of a kind the fake API server does not serve
   * (it has no NetworkPolicy until one is stored), which are stored with `api.apply`; after that the
   * fake serves their kind, so a later apply sends them through kubectl too.
   */
  async function apply(objects: readonly Obj[]): Promise<{ applied: Ran; direct: string[] }> {
    const served = new Set(api.resourceTypes().map((t) => `${t.group === '' ? '' : `${t.group}/`}${t.version}/${t.kind}`));
    const isServed = (o: Obj) => o.kind === 'CustomResourceDefinition' || served.has(`${o.apiVersion}/${o.kind}`) || objects.some((c) => c.kind === 'CustomResourceDefinition' && `${c.spec.group}/${c.spec.versions[0].name}` === o.apiVersion);
    const direct = objects.filter((o) => !isServed(o));
    for (const o of direct) api.apply(o);
    const input = objects
      .filter(isServed)
      .map((o) => stringify(o))
      .join('---\n');
    return { applied: await kubectl(['apply', '-f', '-'], input), direct: direct.map((o) => `${o.apiVersion}/${o.kind} ${o.metadata.name}`) };
  }

  /** What the workload controllers do once the pods are up: every replica of every Deployment and of the NATS StatefulSet ready, for the newest generation. */
  async function markWorkloadsReady(objects: readonly Obj[]): Promise<void> {
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const path = `/apis/apps/v1/namespaces/${o.metadata.namespace}/${o.kind === 'Deployment' ? 'deployments' : 'statefulsets'}/${o.metadata.name}`;
      const stored = await kubeOk('GET', path);
      const replicas = stored.spec.replicas as number;
      const status = { observedGeneration: stored.metadata.generation ?? 1, replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas, currentReplicas: replicas };
      await kubeOk('PATCH', `${path}/status`, { status }, mergePatch);
    }
  }

  /** Creates `pod` and then reports it running with every container ready, as the kubelet does. */
  async function createRunningPod(pod: Obj): Promise<void> {
    const ns = pod.metadata.namespace!;
    await kubeOk('POST', `/api/v1/namespaces/${ns}/pods`, pod);
    const running = (c: Obj) => ({ name: c.name, image: c.image, ready: true, started: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } });
    // Native sidecars are init containers that keep running.
    const sidecars = ((pod.spec.initContainers as Obj[] | undefined) ?? []).filter((c) => c.restartPolicy === 'Always');
    const status = {
      phase: 'Running',
      podIP: '10.0.0.9',
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'ContainersReady', status: 'True' },
      ],
      containerStatuses: (pod.spec.containers as Obj[]).map(running),
      ...(sidecars.length > 0 ? { initContainerStatuses: sidecars.map(running) } : {}),
    };
    await kubeOk('PATCH', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, { status }, mergePatch);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-kube-install-'));
    api = await startFakeKubeApi({ tls: true });
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfig());
  });

  afterAll(async () => {
    await injector?.stop();
    await nats?.stop();
    await api?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('meshbus check --pre passes on the empty cluster', async () => {
    const pre = await check(kubeconfig, '--pre');
    expect(pre.checks.filter((c) => c.result === 'fail' || c.result === 'skip'), pre.raw).toEqual([]);
    expect(pre.code, pre.raw).toBe(0);
    expect(pre.checks.find((c) => c.id === 'pre.namespace')?.result).toBe('pass');
  });

  it('kubectl applies what meshbus install renders', async () => {
    const install = await meshbus(['install']);
    expect(install.code, install.stderr).toBe(0);
    rendered = objectsOf(install.stdout);
    const ns = rendered.find((o) => o.kind === 'Namespace');
    expect(ns).toBeDefined();
    namespace = ns!.metadata.name;
    const { applied, direct } = await apply(rendered);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    // The fake serves every kind of the render but NetworkPolicy, which is stored directly.
    expect(direct.every((d) => d.startsWith('networking.k8s.io/v1/NetworkPolicy ')), direct.join(', ')).toBe(true);
    // kubectl says what it did with every other rendered object.
    expect(applied.stdout.trim().split('\n')).toHaveLength(rendered.length - direct.length);
    storedDirectly = direct;
    expect(applied.stdout).not.toMatch(/unchanged|configured/);
    for (const o of rendered) {
      const stored = api.get({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) });
      expect(stored, `${o.kind} ${o.metadata.name}`).toBeDefined();
    }
  });

  /** The Deployment whose container runs `meshbus serve <component>`. */
  const deploymentOf = (objects: readonly Obj[], component: string): Obj => {
    const found = objects.find((o) => o.kind === 'Deployment' && (o.spec.template.spec.containers[0].args as string[] | undefined)?.join(' ') === `serve ${component}`);
    if (!found) throw new Error(`the render has no Deployment running meshbus serve ${component}`);
    return found;
  };

  const injectorPorts = { admin: 0, webhook: 0 };

  /** The injector as its Deployment in `objects` runs it: the rendered environment, the mounted Secrets and ConfigMaps as files. */
  async function startInjector(objects: readonly Obj[], podName: string): Promise<RunningProcess> {
    const deployment = deploymentOf(objects, 'injector');
    const container = deployment.spec.template.spec.containers[0];
    const files: Record<string, string> = {};
    for (const volume of deployment.spec.template.spec.volumes as Obj[]) {
      const mount = (container.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
      const data: Record<string, string> = volume.secret
        ? Object.fromEntries(Object.entries(find(objects, 'Secret', volume.secret.secretName).data as Record<string, string>).map(([k, v]) => [k, decode(v)]))
        : volume.configMap
          ? (find(objects, 'ConfigMap', volume.configMap.name).data as Record<string, string>)
          : {};
      const local = join(dir, podName, volume.name);
      await mkdir(local, { recursive: true });
      for (const [key, text] of Object.entries(data)) {
        await writeFile(join(local, key), text);
        files[`${mount.mountPath}/${key}`] = join(local, key);
      }
    }
    const env: Record<string, string> = {};
    for (const e of container.env as Obj[]) {
      if (e.value !== undefined) env[e.name] = files[e.value] ?? e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = decode(find(objects, 'Secret', e.valueFrom.secretKeyRef.name).data[e.valueFrom.secretKeyRef.key]);
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
      else throw new Error(`the injector's ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which this test does not fill in`);
    }
    expect(env.MESHBUS_RESOURCE_SOURCE).toBe('kubernetes');
    // Local addresses instead of the pod's; the API server and NATS are the ones of this test.
    Object.assign(env, { NATS_URL: nats!.url, MESHBUS_ADMIN_ADDR: `127.0.0.1:${injectorPorts.admin}`, MESHBUS_INJECTOR_ADDR: `127.0.0.1:${injectorPorts.webhook}`, KUBECONFIG: kubeconfig });
    const { NATS_URL: _n, KUBECONFIG: _k, ...outside } = process.env;
    const started = startProcess({ command: process.execPath, args: [cliMain, ...(container.args as string[])], env: { ...outside, ...env } });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${injectorPorts.admin}/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 20_000,
      what: `the injector to be ready (${started.output().slice(-2000)})`,
    });
    return started;
  }

  /** A pod of namespace `shop` as a ReplicaSet creates it, sent to the injector through the API server, and created with its answer applied. */
  async function meshPod(name: string): Promise<Obj> {
    const webhook = rendered.find((o) => o.kind === 'MutatingWebhookConfiguration')!.webhooks[0].clientConfig.service;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'shop', labels: { app: 'web' } },
      spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
    };
    const uid = `review-${name}`;
    const review = podCreateReview(pod, { uid });
    const proxyPath = `/api/v1/namespaces/${webhook.namespace}/services/https:${webhook.name}:${webhook.port}/proxy${webhook.path}`;
    // The injector learns of the meshed namespace through its watch; until then it leaves pods alone.
    const answer = await waitFor(
      async () => {
        const res = await kubeOk('POST', proxyPath, review);
        return res.response?.patch ? res : undefined;
      },
      { timeoutMs: 10_000, what: 'the injector to mesh a pod of namespace shop' },
    );
    expect(answer.response).toMatchObject({ uid, allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(decode(answer.response.patch as string)) as Operation[];
    const meshed = fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument as Obj;
    expect(meshed.spec.containers.length + (meshed.spec.initContainers?.length ?? 0)).toBeGreaterThan(1);
    await createRunningPod(meshed);
    return meshed;
  }

  it('plays the cluster: ready workloads and pods, the injector and NATS behind their Services', async () => {
    await markWorkloadsReady(rendered);
    for (const deployment of rendered.filter((o) => o.kind === 'Deployment')) {
      const template = deployment.spec.template;
      for (let i = 0; i < (deployment.spec.replicas as number); i++) {
        await createRunningPod({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${deployment.metadata.name}-7d9f8-${i}`, namespace, labels: template.metadata.labels, annotations: template.metadata.annotations },
          spec: template.spec,
        });
      }
    }

    // The injector Service's endpoints, as the EndpointSlice controller writes them.
    const injectorDeployment = deploymentOf(rendered, 'injector');
    const webhookConfig = rendered.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    const webhookService = webhookConfig.webhooks[0].clientConfig.service;
    expect(webhookService.namespace).toBe(namespace);
    const service = find(rendered, 'Service', webhookService.name);
    const servicePort = (service.spec.ports as Obj[]).find((p) => p.port === webhookService.port)!;
    expect(servicePort, `service ${webhookService.name} has port ${webhookService.port}`).toBeDefined();
    const containerPort = (injectorDeployment.spec.template.spec.containers[0].ports as Obj[]).find((p) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort);
    expect(containerPort, `the injector container has the Service's targetPort ${servicePort.targetPort}`).toBeDefined();
    await kubeOk('POST', `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${service.metadata.name}-x7k2q`, namespace, labels: { 'kubernetes.io/service-name': service.metadata.name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.5'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace, name: `${injectorDeployment.metadata.name}-7d9f8-0` } }],
      ports: [{ name: servicePort.name, port: containerPort!.containerPort, protocol: 'TCP' }],
    });

    // A namespace whose pods are meshed; the injector reads it through the API.
    await kubeOk('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'meshbus.io/inject': 'enabled' } } });

    // NATS with the rendered logins.
    const natsSet = rendered.find((o) => o.kind === 'StatefulSet')!;
    const authVolume = (natsSet.spec.template.spec.volumes as Obj[]).find((v) => v.secret)!;
    const authKey = authVolume.secret.items[0].key as string;
    nats = await startNats({ authorization: decode(find(rendered, 'Secret', authVolume.secret.secretName).data[authKey]) });

    injectorPorts.admin = await freePort();
    injectorPorts.webhook = await freePort();
    injector = await startInjector(rendered, `${injectorDeployment.metadata.name}-7d9f8-0`);

    // The API server calls the webhook at <service>.<namespace>.svc and checks the certificate with the caBundle.
    const authorized = await new Promise<boolean>((resolve, reject) => {
      const socket = tlsConnect(
        { host: '127.0.0.1', port: injectorPorts.webhook, ca: decode(webhookConfig.webhooks[0].clientConfig.caBundle), servername: `${webhookService.name}.${webhookService.namespace}.svc` },
        () => {
          resolve(socket.authorized);
          socket.destroy();
        },
      );
      socket.on('error', reject);
    });
    expect(authorized).toBe(true);
    // Its service proxy, which check goes through, takes any certificate.
    api.setServiceProxy({ namespace, name: service.metadata.name, port: webhookService.port }, `https://127.0.0.1:${injectorPorts.webhook}`);
    const natsService = find(rendered, 'Service', natsSet.spec.serviceName);
    const monitor = (natsService.spec.ports as Obj[]).find((p) => p.name === 'monitor')!;
    api.setServiceProxy({ namespace, name: natsService.metadata.name, port: monitor.port }, `http://127.0.0.1:${nats.nodes[0]!.monitorPort}`);
  });

  it('meshbus check passes every check of the installation', async () => {
    const result = await check(kubeconfig);
    // No multicluster checks: the values do not enable it.
    expect(result.checks.filter((c) => c.id.startsWith('mc.'))).toEqual([]);
    expect(notPassed(result.checks), result.raw).toEqual([]);
    expect(result.code).toBe(0);
    // Every rendered Deployment is one that check looks at, and the other way round.
    const deployments = rendered.filter((o) => o.kind === 'Deployment').map((o) => `deployment ${o.metadata.name} is ready`);
    expect(result.checks.filter((c) => c.id.startsWith('cp.deployment.')).map((c) => c.name).sort()).toEqual(deployments.sort());
    expect(result.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['webhook.answers', 'webhook.serving-certificate', 'nats.reachable', 'nats.statefulset', 'identity.issuer-chain', 'cp.crds']));
  });

  let firstPod: Obj;

  it('meshbus check --proxy passes for a pod the injector meshed, and names a deployment that is not ready', async () => {
    firstPod = await meshPod('web-5c4f7-abcde');
    const proxy = await check(kubeconfig, '--proxy');
    expect(notPassed(proxy.checks), proxy.raw).toEqual([]);
    expect(proxy.code).toBe(0);
    // The check found the pod (not "no meshed pods").
    expect(proxy.checks.find((c) => c.id === 'proxy.version')?.detail).toMatch(/^1 pod on /);

    // One Deployment loses its ready replicas.
    const policy = deploymentOf(rendered, 'policy');
    await kubeOk('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/${policy.metadata.name}/status`, { status: { readyReplicas: 0, availableReplicas: 0 } }, mergePatch);
    const broken = await check(kubeconfig, '--proxy');
    expect(broken.code).toBe(1);
    expect(broken.checks.filter((c) => c.result === 'fail').map((c) => c.name)).toEqual([`deployment ${policy.metadata.name} is ready`]);
    await markWorkloadsReady(rendered);
  });

  it('meshbus upgrade with --set, applied with kubectl, still checks; a pinned proxy version is the one check wants', async () => {
    const proxyVersion = '0.1.0-e2e.1';
    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', `logLevel=debug,injector.proxyVersion=${proxyVersion}`]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const upgraded = objectsOf(upgrade.stdout);
    const { applied, direct } = await apply(upgraded);
    expect(direct).toEqual([]);
    // kubectl warns of the objects it did not create, those stored directly at install time, and of no others.
    const warnings = applied.stderr.split('\n').filter((l) => l !== '');
    expect(warnings.filter((l) => !/^Warning: resource networkpolicies\/\S+ is missing the kubectl.kubernetes.io\/last-applied-configuration annotation/.test(l))).toEqual([]);
    expect(warnings.length).toBe(storedDirectly.length);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/configured/);
    const env = (o: Obj) => Object.fromEntries((o.spec.template.spec.containers[0].env as Obj[]).map((e) => [e.name, e.value]));
    const name = deploymentOf(upgraded, 'policy').metadata.name;
    expect(env(api.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name }) as Obj).MESHBUS_LOG_LEVEL).toBe('debug');

    // The controllers see the new specs and roll the pods: the control plane is healthy again.
    await markWorkloadsReady(upgraded);
    const result = await check(kubeconfig);
    // No multicluster checks: the values do not enable it.
    expect(result.checks.filter((c) => c.id.startsWith('mc.'))).toEqual([]);
    expect(notPassed(result.checks), result.raw).toEqual([]);
    expect(result.code).toBe(0);

    // The meshed pod still runs the proxy it was given; check names it until it is rolled.
    const stale = await check(kubeconfig, '--proxy');
    expect(stale.code).toBe(1);
    expect(stale.checks.filter((c) => c.result === 'fail').map((c) => c.id)).toEqual(['proxy.version']);
    expect(stale.checks.find((c) => c.id === 'proxy.version')?.hint).toContain(`run another proxy than ${proxyVersion}: shop/${firstPod.metadata.name}`);

    // The injector's rollout, then the workload's: its new pod gets the pinned version, and check agrees.
    await injector!.stop();
    injector = await startInjector(upgraded, `${deploymentOf(upgraded, 'injector').metadata.name}-6b5c4-0`);
    const rolled = await meshPod('web-8d2e1-fghij');
    expect(rolled.metadata.annotations['meshbus.io/proxy-version']).toBe(proxyVersion);
    await kubeOk('DELETE', `/api/v1/namespaces/shop/pods/${firstPod.metadata.name}`);
    const proxy = await check(kubeconfig, '--proxy');
    expect(notPassed(proxy.checks), proxy.raw).toEqual([]);
    expect(proxy.code).toBe(0);
    expect(proxy.checks.find((c) => c.id === 'proxy.version')?.detail).toBe(`1 pod on ${proxyVersion}`);
  });

  it('meshbus uninstall, deleted with kubectl, removes it, and check then fails on the missing namespace', async () => {
    const uninstall = await meshbus(['uninstall', '--kubeconfig', kubeconfig]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const deleted = await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], uninstall.stdout);
    expect(deleted.stderr).toBe('');
    expect(deleted.code).toBe(0);
    for (const o of rendered) {
      const left = api.get({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) });
      expect(left, `${o.kind} ${o.metadata.name} is left`).toBeUndefined();
    }
    const result = await check(kubeconfig);
    expect(result.code).toBe(1);
    const namespaceCheck = result.checks.find((c) => c.id === 'cp.namespace');
    expect(namespaceCheck).toMatchObject({ result: 'fail', hint: expect.stringContaining(`namespace ${namespace} not found`) });
  });

  it('kubectl applies a multicluster render, and meshbus check looks at its Deployments and Services', async () => {
    const values = join(dir, 'east.yaml');
    await writeFile(values, 'multicluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n  gateway:\n    addresses: ["203.0.113.7:4180"]\n');
    const install = await meshbus(['install', '-f', values]);
    expect(install.code, install.stderr).toBe(0);
    const objects = objectsOf(install.stdout);
    const { applied } = await apply(objects);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    for (const name of ['deployment.apps/meshbus-multicluster', 'deployment.apps/meshbus-multicluster-gateway', 'service/meshbus-multicluster-gateway', 'service/meshbus-nats-leafnodes', 'serviceaccount/multicluster-gateway']) {
      expect(applied.stdout).toContain(`${name} created`);
    }
    await markWorkloadsReady(objects);
    const before = await check(kubeconfig);
    expect(before.checks.find((c) => c.id === 'mc.deployment.multicluster')?.result).toBe('pass');
    expect(before.checks.find((c) => c.id === 'mc.deployment.gateway')?.result).toBe('pass');
    expect(before.checks.find((c) => c.id === 'mc.service.gateway')?.result).toBe('warn');
    // The cloud gives the load balancers their addresses.
    for (const name of ['meshbus-multicluster-gateway', 'meshbus-nats-leafnodes']) {
      await kubeOk('PATCH', `/api/v1/namespaces/${namespace}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } }, mergePatch);
    }
    const after = await check(kubeconfig);
    expect(after.checks.filter((c) => c.id.startsWith('mc.')).map((c) => `${c.id} ${c.result}`)).toEqual([
      'mc.deployment.multicluster pass',
      'mc.deployment.gateway pass',
      'mc.service.gateway pass',
      'mc.service.leafnodes pass',
      'mc.leafnode-tls.certificate pass',
      'mc.leafnode-tls.chain pass',
    ]);
  });
});
