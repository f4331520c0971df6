import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { componentName, createLeafnodeTls, crdName, customResources, issuerSecretName, leafnodeTlsHosts, natsPorts, partOf, partOfLabel, webhookConfigurationName } from '@meshbus/install';
import { freePort, startFakeKubeApi, startNats, type FakeKubeApi, type FakeKubeObject, type NatsCluster } from '@meshbus/testing';
import type { TrustMaterial } from '@meshbus/trust';
import { runClusterChecks } from '../commands/check.js';
import type { CheckReport } from './format.js';
import { kubeHttpFor, type KubeHttp } from './kube-http.js';
import {
  anchor,
  applyAll,
  customResourceDefinition,
  installationCertificates,
  installationObjects,
  issuer,
  meshedPod,
  pod,
  serveBackends,
  startWebhookServer,
  validity,
  type InstallationCertificates,
} from './test-installation.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
type CheckEntry = CheckReport['categories'][number]['checks'][number];

let certs: InstallationCertificates;
let webhook: Awaited<ReturnType<typeof startWebhookServer>>;
let nats: NatsCluster;
let silent: TcpServer;
let silentPort: number;
const hung = new Set<Socket>();

beforeAll(async () => {
  certs = installationCertificates();
  webhook = await startWebhookServer(certs.serving);
  nats = await startNats();
  // Accepts connections and never answers: a hung backend.
  silent = createTcpServer((socket) => {
    hung.add(socket.on('error', () => undefined));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  silentPort = (silent.address() as { port: number }).port;
});

afterAll(async () => {
  await webhook?.[Symbol.asyncDispose]();
  await nats?.stop();
  for (const socket of hung) socket.destroy();
  await new Promise((resolve) => silent?.close(resolve));
});

/** The fake's kubeconfig as a file holds it: its HTTPS server and the CA that verifies it. */
function httpOf(fake: FakeKubeApi): KubeHttp {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(fake.kubeconfig());
  return kubeHttpFor(kubeConfig);
}

/** A fake API server over HTTPS whose service proxy reaches the installation's webhook and NATS monitor. */
async function cluster(): Promise<FakeKubeApi> {
  const fake = await startFakeKubeApi({ tls: true });
  serveBackends(fake, { webhookUrl: webhook.url, natsMonitorUrl: `http://127.0.0.1:${nats.nodes[0]!.monitorPort}` });
  return fake;
}

interface Run {
  ok: boolean;
  report: CheckReport;
  /** The check with this id. */
  check(id: string): CheckEntry;
}

async function check(fake: FakeKubeApi, options: { pre?: boolean; proxy?: boolean; timeoutMs?: number; http?: KubeHttp } = {}): Promise<Run> {
  let out = '';
  const http = options.http ?? httpOf(fake);
  const ok = await runClusterChecks(
    http,
    { pre: options.pre ?? false, proxy: options.proxy ?? false, namespace: 'meshbus', timeout: options.timeoutMs ?? 5000, output: 'json' },
    { stdout: { write: (s: string) => (out += s) }, signal: new AbortController().signal },
  );
  const report = JSON.parse(out) as CheckReport;
  const all = report.categories.flatMap((c) => c.checks);
  return {
    ok,
    report,
    check: (id) => {
      const found = all.find((c) => c.id === id);
      if (!found) throw new Error(`no check ${id} in ${all.map((c) => c.id).join(', ')}`);
      return found;
    },
  };
}

async function installed(change: (objects: FakeKubeObject[]) => FakeKubeObject[] = (o) => o, options: { certificates?: InstallationCertificates; natsUrl?: string } = {}): Promise<FakeKubeApi> {
  const fake = await cluster();
  applyAll(fake, change(installationObjects({ certificates: options.certificates ?? certs, ...(options.natsUrl ? { natsUrl: options.natsUrl } : {}) })));
  return fake;
}

function replace(objects: FakeKubeObject[], kind: string, name: string, edit: (o: FakeKubeObject) => FakeKubeObject | undefined): FakeKubeObject[] {
  return objects.flatMap((o) => (o.kind === kind && o.metadata.name === name ? (edit(structuredClone(o)) ?? []) : [o]));
}

function failures(run: Run): string[] {
  return run.report.categories.flatMap((c) => c.checks).filter((c) => c.result === 'fail').map((c) => c.id);
}

describe('meshbus check of an installation', () => {
  it('passes every check of a healthy installation, the proxies included', async () => {
    await using fake = await installed();
    fake.apply(meshedPod({ namespace: 'shop', name: 'web-1', version: '0.1.0', anchorsPem: certs.anchors.certificatePem }));
    const run = await check(fake, { proxy: true });
    expect(failures(run)).toEqual([]);
    // No multicluster checks: the values do not enable it.
    expect(run.report.categories.map((c) => c.name)).not.toContain('meshbus-multicluster');
    expect(run.report.summary).toEqual({ pass: run.report.categories.flatMap((c) => c.checks).length, fail: 0, warn: 0, skip: 0 });
    expect(run.ok).toBe(true);
    expect(run.check('webhook.answers').result).toBe('pass');
    expect(run.check('nats.reachable').result).toBe('pass');
    expect(run.check('proxy.version')).toMatchObject({ result: 'pass', detail: '1 pod on 0.1.0' });
    // The checks read what install names: the fake saw these requests.
    expect(fake.requests.map((r) => r.path)).toContain(`/apis/apps/v1/namespaces/meshbus/deployments/${componentName('policy')}`);
  });

  it('checks the multicluster service, its gateway and the leaf node Service when the values enable multicluster', async () => {
    const ready = { replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1, observedGeneration: 1 };
    const deployment = (name: string, status: object): FakeKubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'meshbus', generation: 1 }, spec: { replicas: 1 }, status });
    const service = (name: string, ingress: object[]): FakeKubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'meshbus' }, spec: { type: 'LoadBalancer', ports: [{ port: 4180 }] }, status: { loadBalancer: { ingress } } });
    const withValues = (objects: FakeKubeObject[]) =>
      replace(objects, 'ConfigMap', 'meshbus-install-values', (o) => ({
        ...o,
        data: { 'values.yaml': 'version: 0.1.0\nmulticluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n  links:\n    - cluster: north\n      url: tls://nats.north.example:7422\n' },
      }));
    const leafTls = createLeafnodeTls('meshbus', leafnodeTlsHosts('meshbus', 'cluster.local', []), new Date());
    await using fake = await installed((objects) => [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'meshbus-nats-leafnode-tls', namespace: 'meshbus' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(leafTls.certificatePem), 'tls.key': b64(leafTls.privateKeyPem), 'ca.crt': b64(leafTls.caPem), 'ca.key': b64(leafTls.caKeyPem) },
      },
      ...withValues(objects),
      deployment('meshbus-multicluster', ready),
      deployment('meshbus-multicluster-gateway', { ...ready, readyReplicas: 0 }),
      service('meshbus-multicluster-gateway', [{ ip: '203.0.113.7' }]),
      service('meshbus-nats-leafnodes', []),
    ]);
    const run = await check(fake);
    expect(run.check('mc.deployment.multicluster').result).toBe('pass');
    expect(run.check('mc.deployment.gateway')).toMatchObject({ result: 'fail', hint: expect.stringContaining('0 of 1 replica ready; see kubectl -n meshbus describe deployment meshbus-multicluster-gateway') });
    expect(run.check('mc.service.gateway')).toMatchObject({ result: 'pass', detail: '203.0.113.7' });
    expect(run.check('mc.service.leafnodes')).toMatchObject({ result: 'warn', hint: expect.stringContaining('the load balancer has no address yet') });
    expect(run.check('mc.leafnode-tls.certificate')).toMatchObject({ result: 'pass', detail: expect.stringContaining('names meshbus-nats-leafnodes.meshbus.svc') });
    expect(run.check('mc.leafnode-tls.chain').result).toBe('pass');
    // The link to north checks north's listener with a CA nobody copied here yet.
    expect(run.check('mc.link-ca')).toMatchObject({ result: 'fail', hint: expect.stringContaining('link to north: secret meshbus-link-north not found') });
    expect(run.ok).toBe(false);
  });

  it('fails a deployment with 1 of 2 replicas ready, names it and the kubectl command, and skips its pods', async () => {
    await using fake = await installed((objects) =>
      replace(objects, 'Deployment', componentName('policy'), (d) => ({ ...d, status: { ...(d.status as object), readyReplicas: 1, availableReplicas: 1 } })),
    );
    const run = await check(fake);
    expect(run.ok).toBe(false);
    expect(failures(run)).toEqual(['cp.deployment.policy']);
    expect(run.check('cp.deployment.policy').hint).toBe('1 of 2 replicas ready; see kubectl -n meshbus describe deployment meshbus-policy');
    expect(run.check('cp.pods.policy')).toMatchObject({ result: 'skip', reason: 'needs "deployment meshbus-policy is ready", which failed' });
  });

  it('fails a component whose pod is crash-looping', async () => {
    await using fake = await installed((objects) =>
      replace(objects, 'Pod', `${componentName('identity')}-1`, (p) => pod({ namespace: 'meshbus', name: p.metadata.name, labels: p.metadata.labels!, containers: [{ name: 'identity', ready: false, waiting: 'CrashLoopBackOff' }] })),
    );
    const run = await check(fake);
    expect(failures(run)).toEqual(['cp.pods.identity']);
    expect(run.check('cp.pods.identity').hint).toBe('meshbus-identity-1 is Running (CrashLoopBackOff); see kubectl -n meshbus logs meshbus-identity-1');
  });

  it('fails when a CRD is missing or serves another version than meshbus reads', async () => {
    const [first, second] = customResources;
    await using fake = await installed((objects) =>
      replace(
        replace(objects, 'CustomResourceDefinition', crdName(first), () => undefined),
        'CustomResourceDefinition',
        crdName(second),
        () => customResourceDefinition({ ...second, version: 'v1beta9' }, { [partOfLabel]: partOf }),
      ),
    );
    // As a real server does: the missing one's resources are not served at all, the other's not in meshbus's version.
    const served = (await httpOf(fake).request({ method: 'GET', path: `/apis/${first.group}/${first.version}/${first.plural}`, signal: AbortSignal.timeout(2000) })).status;
    expect(served).toBe(404);
    const run = await check(fake);
    expect(failures(run)).toEqual(['cp.crds']);
    expect(run.check('cp.crds').hint).toBe(
      `missing: ${crdName(first)}; apply the output of meshbus install again\nnot serving the version meshbus reads: ${crdName(second)} (serves v1beta9, meshbus reads ${second.version}); apply the output of meshbus install again`,
    );
  });

  it('fails a webhook CA bundle from another CA, yet the webhook still answers through the service proxy', async () => {
    const other = anchor('someone-else');
    await using fake = await installed((objects) =>
      replace(objects, 'MutatingWebhookConfiguration', webhookConfigurationName, (w) => {
        const hooks = w.webhooks as { clientConfig: { caBundle: string } }[];
        hooks[0]!.clientConfig.caBundle = b64(other.certificatePem);
        return w;
      }),
    );
    const run = await check(fake);
    expect(failures(run)).toEqual(['webhook.serving-certificate']);
    expect(run.check('webhook.serving-certificate').hint).toMatch(/^the caBundle of webhook inject\.meshbus\.io did not sign CN=meshbus-injector\.meshbus\.svc, the certificate in secret meshbus-injector-tls/);
    expect(run.check('webhook.answers').result).toBe('pass');
  });

  it('fails a serving certificate for another service name, and a caBundle that is not PEM', async () => {
    const wrongName = { ...certs, serving: (await import('./test-installation.js')).servingCertificate(certs.webhookCa, 'meshbus-injector.other.svc') };
    {
      await using fake = await installed((o) => o, { certificates: wrongName });
      const run = await check(fake);
      expect(failures(run)).toEqual(['webhook.serving-certificate']);
      expect(run.check('webhook.serving-certificate').hint).toBe('the certificate in secret meshbus-injector-tls is not for meshbus-injector.meshbus.svc; render it again with meshbus install');
    }
    {
      await using fake = await installed((objects) =>
        replace(objects, 'MutatingWebhookConfiguration', webhookConfigurationName, (w) => {
          (w.webhooks as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle = b64('not a certificate');
          return w;
        }),
      );
      const run = await check(fake);
      expect(run.check('webhook.ca-bundle').hint).toMatch(/^the caBundle of webhook inject\.meshbus\.io holds no PEM certificate/);
      expect(run.check('webhook.serving-certificate').result).toBe('skip');
    }
  });

  it('warns about an issuer that expires within 7 days, and fails an expired one', async () => {
    {
      await using fake = await installed((o) => o, { certificates: { ...certs, issuer: issuer(certs.anchors, validity(30, 3)) } });
      const run = await check(fake);
      expect(run.ok).toBe(true);
      expect(run.check('identity.issuer-certificate').result).toBe('warn');
      expect(run.check('identity.issuer-certificate').hint).toMatch(/^the issuer CN=identity\.meshbus\.cluster\.local expires in [23] days \(/);
    }
    {
      await using fake = await installed((o) => o, { certificates: { ...certs, issuer: issuer(certs.anchors, validity(30, -1)) } });
      const run = await check(fake);
      expect(run.ok).toBe(false);
      expect(failures(run)).toEqual(['identity.issuer-certificate']);
      expect(run.check('identity.issuer-certificate').hint).toMatch(/^the issuer CN=identity\.meshbus\.cluster\.local expired on .*; proxies get no certificates/);
    }
  });

  it('warns about anchors within 60 days of expiry', async () => {
    const soon = anchor('root.meshbus.cluster.local', validity(300, 40));
    const c = { ...certs, anchors: soon, issuer: issuer(soon, validity(1, 30)) };
    await using fake = await installed((o) => o, { certificates: c });
    const run = await check(fake);
    expect(run.ok).toBe(true);
    expect(run.check('identity.anchors').result).toBe('warn');
    expect(run.check('identity.anchors').hint).toMatch(/expires in 3[89] days/);
  });

  it('fails an issuer that the anchors did not sign', async () => {
    await using fake = await installed((o) => o, { certificates: { ...certs, issuer: issuer(anchor('another-root')) } });
    const run = await check(fake);
    expect(failures(run)).toEqual(['identity.issuer-chain']);
    expect(run.check('identity.issuer-chain').hint).toMatch(/^CN=identity\.meshbus\.cluster\.local \(secret meshbus-identity-issuer\) is not signed by any anchor in configmap meshbus-trust-anchors/);
  });

  it('fails an issuer secret whose key belongs to another certificate, and a missing one', async () => {
    const other: TrustMaterial = issuer(certs.anchors);
    {
      await using fake = await installed((objects) =>
        replace(objects, 'Secret', issuerSecretName, (s) => ({ ...s, data: { ...(s.data as object), 'tls.key': b64(other.privateKeyPem) } })),
      );
      const run = await check(fake);
      expect(run.check('identity.issuer-certificate').hint).toBe('tls.key of secret meshbus-identity-issuer does not belong to its tls.crt');
    }
    {
      await using fake = await installed((objects) => replace(objects, 'Secret', issuerSecretName, () => undefined));
      const run = await check(fake);
      expect(failures(run)).toEqual(['identity.issuer-secret']);
      expect(run.check('identity.issuer-chain').result).toBe('skip');
    }
  });

  it('fails meshed pods on an old proxy version, with an unready proxy, or with old anchors', async () => {
    await using fake = await installed();
    const pem = certs.anchors.certificatePem;
    fake.apply(meshedPod({ namespace: 'shop', name: 'web-1', version: '0.1.0', anchorsPem: pem }));
    fake.apply(meshedPod({ namespace: 'shop', name: 'web-2', version: '0.0.9', anchorsPem: pem }));
    fake.apply(meshedPod({ namespace: 'shop', name: 'web-3', version: '0.1.0', anchorsPem: pem, proxyReady: false }));
    fake.apply(meshedPod({ namespace: 'shop', name: 'web-4', version: '0.1.0', anchorsPem: anchor('old-root').certificatePem }));
    // Meshed by another installation: not this one's business.
    fake.apply(meshedPod({ namespace: 'shop', name: 'other', version: '0.0.1', anchorsPem: pem, controlNamespace: 'elsewhere' }));
    const run = await check(fake, { proxy: true });
    expect(failures(run)).toEqual(['proxy.version', 'proxy.ready', 'proxy.trust-root']);
    expect(run.check('proxy.version').hint).toBe('1 of 4 meshed pods run another proxy than 0.1.0: shop/web-2 (0.0.9); roll them (kubectl rollout restart of their workloads) so that the injector gives them the current proxy');
    expect(run.check('proxy.ready').hint).toBe('shop/web-3 (CrashLoopBackOff); see kubectl -n shop logs web-3 -c meshbus-proxy');
    expect(run.check('proxy.trust-root').hint).toMatch(/^1 of 4 meshed pods were started with other trust anchors: shop\/web-4; roll them/);
    // Without --proxy the data plane is not looked at.
    expect((await check(fake)).ok).toBe(true);
  });

  it('fails when the NATS monitor cannot be reached through the service proxy', async () => {
    await using fake = await installed();
    fake.setServiceProxy({ namespace: 'meshbus', name: componentName('nats'), port: natsPorts.monitor }, `http://127.0.0.1:${await freePort()}`);
    const run = await check(fake);
    expect(failures(run)).toEqual(['nats.reachable']);
    expect(run.check('nats.reachable').hint).toMatch(/^the NATS health endpoint answers 503: error trying to reach service: connect ECONNREFUSED .*; see kubectl -n meshbus logs statefulset\/meshbus-nats$/);
  });

  it('connects to an external NATS named in the values, and fails when it is not there', async () => {
    {
      await using fake = await installed((o) => o, { natsUrl: nats.url });
      const run = await check(fake);
      expect(failures(run)).toEqual([]);
      expect(run.check('nats.statefulset')).toMatchObject({ result: 'skip', reason: `the installation uses the external NATS ${nats.url}` });
      expect(run.check('nats.reachable').detail).toMatch(/^127\.0\.0\.1:\d+, nats-server \d+\.\d+/);
    }
    {
      const url = `nats://127.0.0.1:${await freePort()}`;
      await using fake = await installed((o) => o, { natsUrl: url });
      const run = await check(fake);
      expect(failures(run)).toEqual(['nats.reachable']);
      expect(run.check('nats.reachable').hint).toMatch(new RegExp(`^cannot reach the external NATS ${url}: 127\\.0\\.0\\.1:\\d+: connect ECONNREFUSED`));
    }
  });

  it('fails a check whose backend does not answer in time, and the run goes on', async () => {
    await using fake = await installed();
    const started = Date.now();
    fake.setServiceProxy({ namespace: 'meshbus', name: componentName('injector'), port: 443 }, `https://127.0.0.1:${silentPort}`);
    const run = await check(fake, { timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(failures(run)).toEqual(['webhook.answers']);
    expect(run.check('webhook.answers').hint).toBe('no answer within 400 ms; raise --timeout if the cluster is slow');
    expect(run.check('identity.issuer-chain').result).toBe('pass');
  });

  it('fails a webhook without ready endpoints and skips the admission review', async () => {
    await using fake = await installed((objects) =>
      objects.map((o) => (o.kind === 'EndpointSlice' ? { ...o, endpoints: [{ addresses: ['10.0.0.5'], conditions: { ready: false } }] } : o)),
    );
    const run = await check(fake);
    expect(failures(run)).toEqual(['webhook.endpoints']);
    expect(run.check('webhook.answers').result).toBe('skip');
  });

  it('fails everything after a missing namespace, and an unreachable API server', async () => {
    await using fake = await startFakeKubeApi({ tls: true });
    const run = await check(fake);
    expect(run.check('cp.namespace').hint).toBe('namespace meshbus not found; install with meshbus install | kubectl apply -f -, or pass --namespace');
    expect(run.check('cp.deployment.policy').result).toBe('skip');

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({ ...fake.kubeConfigOptions(), clusters: [{ name: 'fake', server: `http://127.0.0.1:${await freePort()}`, skipTLSVerify: true }] });
    const down = await check(fake, { http: kubeHttpFor(kubeConfig) });
    expect(down.check('api.reachable').hint).toMatch(/ECONNREFUSED.*; is the kubeconfig \(--kubeconfig, KUBECONFIG, --context\) right\?$/);
    expect(down.report.summary.fail).toBe(1);
    expect(down.report.summary.pass).toBe(0);
  });

  it("reads the API server's /version", async () => {
    await using fake = await installed();
    const run = await check(fake);
    expect(run.check('api.version')).toEqual({ id: 'api.version', name: 'Kubernetes version is supported (>= 1.25)', result: 'pass', detail: expect.stringMatching(/^Kubernetes v1\.\d+\./) });
    expect(run.check('api.native-sidecars').result).toBe('pass');
    expect(fake.requests.filter((r) => r.path === '/version').length).toBeGreaterThan(0);
  });
});

describe('meshbus check --pre', () => {
  it('passes on an empty cluster, warning when the Gateway API CRDs are missing', async () => {
    await using fake = await cluster();
    const run = await check(fake, { pre: true });
    expect(run.ok).toBe(true);
    expect(run.report.categories.map((c) => c.name)).toEqual(['kubernetes-api', 'pre-kubernetes-setup']);
    expect(run.check('pre.gateway-api').result).toBe('warn');
    expect(run.check('pre.namespace').detail).toBe('namespace meshbus does not exist yet');
    fake.apply(customResourceDefinition({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', plural: 'httproutes' }));
    expect((await check(fake, { pre: true })).check('pre.gateway-api').hint).toMatch(/^grpcroutes\.gateway\.networking\.k8s\.io not installed/);
    fake.apply(customResourceDefinition({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'GRPCRoute', plural: 'grpcroutes' }));
    fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'meshbus' } });
    const again = await check(fake, { pre: true });
    expect(again.report.summary).toMatchObject({ fail: 0, warn: 0 });
    expect(again.check('pre.namespace').detail).toBe('namespace meshbus exists and holds no meshbus objects');
  });

  it('fails without permission to create cluster-scoped objects', async () => {
    await using fake = await cluster();
    const asked: string[] = [];
    fake.setAccessReviewHandler(({ resourceAttributes: r }) => {
      asked.push(`${r?.verb} ${r?.resource}.${r?.group}`);
      return r?.group === 'rbac.authorization.k8s.io' ? { allowed: false, reason: 'no RBAC rule allows it' } : { allowed: true };
    });
    const run = await check(fake, { pre: true });
    expect(failures(run)).toEqual(['pre.create-clusterroles', 'pre.create-clusterrolebindings']);
    expect(run.check('pre.create-clusterroles').hint).toBe('you may not create clusterroles.rbac.authorization.k8s.io (no RBAC rule allows it); install meshbus as a cluster administrator');
    expect(asked).toEqual([
      'create customresourcedefinitions.apiextensions.k8s.io',
      'create clusterroles.rbac.authorization.k8s.io',
      'create clusterrolebindings.rbac.authorization.k8s.io',
      'create mutatingwebhookconfigurations.admissionregistration.k8s.io',
      'create namespaces.',
    ]);
  });

  it('fails on an existing installation and on CRDs of another owner', async () => {
    await using fake = await installed();
    fake.apply(customResourceDefinition(customResources[0], { 'app.kubernetes.io/managed-by': 'Helm' }, { 'meta.helm.sh/release-name': 'other-mesh' }));
    const run = await check(fake, { pre: true });
    expect(failures(run)).toEqual(['pre.namespace', 'pre.crds']);
    expect(run.check('pre.namespace').hint).toMatch(/^namespace meshbus already holds deployment meshbus-destination, deployment meshbus-identity, .* and \d+ more; run meshbus check/);
    expect(run.check('pre.crds').hint).toBe(`these CRDs exist and were not installed by meshbus: ${crdName(customResources[0])} (Helm release other-mesh); remove them or find who installed them before installing`);
    // Its own CRDs (labelled part-of meshbus) are no conflict.
    expect(fake.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crdName(customResources[1]) })?.metadata.labels?.[partOfLabel]).toBe(partOf);
  });
});
