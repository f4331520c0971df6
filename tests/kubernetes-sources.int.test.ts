import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import { httpGet, startFakeKubeApi, waitFor, type FakeKubeApi } from '@meshbus/testing';
import { startMesh, type Mesh } from './harness.js';

/** The last state stored on a subject (undefined when none or a tombstone). */
async function lastState(nc: NatsConnection, subject: string): Promise<Record<string, unknown> | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    if (m.data.length === 0) return undefined;
    return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const pod = (name: string, ip: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels: { app: 'web' } },
  spec: { serviceAccountName: 'web', nodeName: 'node-a', containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }, { name: 'meshbus-proxy' }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

const slice = (readyB: boolean) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abcde', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [
    { addresses: ['10.0.0.1'], conditions: { ready: true }, zone: 'zone-a', targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-a' } },
    { addresses: ['10.0.0.2'], conditions: { ready: readyB, terminating: !readyB }, zone: 'zone-a', targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-b' } },
  ],
});

/** A CustomResourceDefinition as the policy resources' installation would create it (schema left open here). */
const crd = (group: string, kind: string, plural: string, versions: string[]) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: versions.map((name, i) => ({ name, served: true, storage: i === versions.length - 1, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } })),
  },
});

describe('destination and policy with the Kubernetes source, against the fake API server and a real NATS', () => {
  let kube: FakeKubeApi;
  let mesh: Mesh;
  let nc: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    kube = await startFakeKubeApi({ tls: true });
    // The policy CRDs exist before the control plane starts, as after an installation.
    kube.apply(crd('policy.linkerd.io', 'Server', 'servers', ['v1beta3']));
    kube.apply(crd('policy.linkerd.io', 'AuthorizationPolicy', 'authorizationpolicies', ['v1alpha1']));
    kube.apply(crd('policy.linkerd.io', 'NetworkAuthentication', 'networkauthentications', ['v1alpha1']));
    dir = await mkdtemp(join(tmpdir(), 'meshbus-kube-e2e-'));
    await writeFile(join(dir, 'kubeconfig'), kube.kubeconfig());
    const env = { MESHBUS_RESOURCE_SOURCE: 'kubernetes', KUBECONFIG: join(dir, 'kubeconfig') };
    mesh = await startMesh({ destination: true, policy: true, env: { destination: env, policy: env } });
    nc = await mesh.connect();
  });
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes the endpoint set of a Service from its EndpointSlice, and drops an endpoint that stops being ready', async () => {
    await waitFor(async () => (await httpGet(`${mesh.destination.adminUrl}/ready`)).status === 200, { what: 'destination ready' });
    kube.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } });
    kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    kube.apply(pod('web-a', '10.0.0.1'));
    kube.apply(pod('web-b', '10.0.0.2'));
    kube.apply(slice(true));
    const subject = subjects.endpoints('shop', 'web', 80);
    const addresses = async () => ((await lastState(nc, subject))?.endpoints as { address: string }[] | undefined)?.map((e) => e.address);
    await waitFor(async () => JSON.stringify(await addresses()) === JSON.stringify(['10.0.0.1', '10.0.0.2']), { what: 'both endpoints published' });
    const set = await lastState(nc, subject);
    expect((set!.endpoints as Record<string, unknown>[])[0]).toMatchObject({
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      zone: 'zone-a',
      workload: { kind: 'Pod', namespace: 'shop', name: 'web-a' },
    });
    kube.apply(slice(false));
    await waitFor(async () => JSON.stringify(await addresses()) === JSON.stringify(['10.0.0.1']), { what: 'the terminating endpoint left' });
  });

  it('publishes the inbound policy of a Server and AuthorizationPolicy', async () => {
    await waitFor(async () => (await httpGet(`${mesh.policy.adminUrl}/ready`)).status === 200, { what: 'policy ready' });
    kube.apply({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'web-http', namespace: 'shop' }, spec: { podSelector: { matchLabels: { app: 'web' } }, port: 'http' } }, { plural: 'servers' });
    kube.apply(
      {
        apiVersion: 'policy.linkerd.io/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'web-any', namespace: 'shop' },
        spec: { targetRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http' }, requiredAuthenticationRefs: [{ group: 'policy.linkerd.io', kind: 'NetworkAuthentication', name: 'all' }] },
      },
      { plural: 'authorizationpolicies' },
    );
    kube.apply(
      { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'NetworkAuthentication', metadata: { name: 'all', namespace: 'shop' }, spec: { networks: [{ cidr: '0.0.0.0/0' }] } },
      { plural: 'networkauthentications' },
    );
    const subject = subjects.inboundPolicy('shop', 'web-a');
    await waitFor(async () => JSON.stringify((await lastState(nc, subject)) ?? {}).includes('web-http'), { what: 'inbound policy naming the Server' });
    expect(JSON.stringify(await lastState(nc, subject))).toContain('web-any');
  });
});
