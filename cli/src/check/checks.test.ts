import { describe, expect, it } from 'vitest';
import { crdName, customResources } from '@meshbus/install';
import { apiChecks } from './checks-api.js';
import { controlPlaneChecks, crdProblem, type CrdObject } from './checks-control-plane.js';
import { ClusterReader } from './cluster.js';
import type { CheckContext } from './context.js';
import type { KubeHttp } from './kube-http.js';
import { runChecks, type CheckOutcome } from './model.js';

/*
 * Answers the fake API server cannot give (it runs one Kubernetes version and
 * establishes every CRD it stores), through a hand-written KubeHttp.
 */

/** A KubeHttp answering GETs of the given paths with their JSON, 404 for any other. */
function answering(objects: Record<string, unknown>): KubeHttp {
  return {
    server: 'https://cluster.example:6443',
    request: async ({ method, path }) => {
      if (method === 'GET' && path in objects) return { status: 200, body: JSON.stringify(objects[path]) };
      return { status: 404, body: JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: `${path} not found` }) };
    },
  };
}

async function outcomes(http: KubeHttp, ids: readonly string[]): Promise<Record<string, CheckOutcome>> {
  const context: CheckContext = { cluster: new ClusterReader(http), namespace: 'meshbus', now: () => new Date(), natsGreeting: () => Promise.reject(new Error('no NATS here')) };
  const checks = [...apiChecks(), ...controlPlaneChecks()].filter((c) => c.id === 'api.reachable' || ids.includes(c.id));
  const results = await runChecks(checks, context, { timeoutMs: 1000 });
  return Object.fromEntries(results.map((r) => [r.id, r.outcome]));
}

const crdPath = (name: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;

function crd(resource: (typeof customResources)[number], conditions: CrdObject['status']): CrdObject {
  return { metadata: { name: crdName(resource) }, spec: { versions: [{ name: resource.version, served: true }] }, status: conditions };
}

const established = { conditions: [{ type: 'NamesAccepted', status: 'True' }, { type: 'Established', status: 'True' }] };

describe('the Kubernetes version checks', () => {
  it('fail a Kubernetes older than 1.25 and skip the native sidecar check', async () => {
    const got = await outcomes(answering({ '/version': { major: '1', minor: '24', gitVersion: 'v1.24.17' } }), ['api.version', 'api.native-sidecars']);
    expect(got['api.version']).toEqual({ status: 'fail', hint: 'the cluster runs Kubernetes v1.24.17; meshbus needs 1.25 or later' });
    expect(got['api.native-sidecars']?.status).toBe('skip');
  });

  it('warn about a Kubernetes without native sidecars, read from a managed cluster version', async () => {
    const got = await outcomes(answering({ '/version': { major: '1', minor: '27+', gitVersion: 'v1.27.3-eks-1' } }), ['api.version', 'api.native-sidecars']);
    expect(got['api.version']).toEqual({ status: 'pass', detail: 'Kubernetes v1.27.3-eks-1' });
    expect(got['api.native-sidecars']).toMatchObject({ status: 'warn', hint: expect.stringMatching(/^Kubernetes v1\.27\.3-eks-1 has no native sidecars/) });
  });
});

describe('the CRD check', () => {
  it('fails CRDs the API server has not established, with the condition that says why', async () => {
    const [first, second, ...rest] = customResources;
    const objects: Record<string, unknown> = { '/version': { major: '1', minor: '30', gitVersion: 'v1.30.2' } };
    for (const r of rest) objects[crdPath(crdName(r))] = crd(r, established);
    objects[crdPath(crdName(first))] = crd(first, {
      conditions: [
        { type: 'NamesAccepted', status: 'False', reason: 'ListKindConflict', message: '"ServerList" is already in use' },
        { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' },
      ],
    });
    // Just created: no conditions yet.
    objects[crdPath(crdName(second))] = crd(second, undefined);
    const got = await outcomes(answering(objects), ['cp.crds']);
    expect(got['cp.crds']).toEqual({
      status: 'fail',
      hint: `not established: ${crdName(first)} (NamesAccepted: "ServerList" is already in use), ${crdName(second)}; see kubectl describe crd ${crdName(first)}`,
    });
  });
});

describe('crdProblem', () => {
  const [server] = customResources;
  it('passes an established CRD that serves the version', () => {
    expect(crdProblem(crd(server, established), server.version)).toBeUndefined();
    expect(crdProblem({ spec: { versions: [{ name: 'v1beta1', served: true }, { name: server.version }] }, status: established }, server.version)).toBeUndefined();
  });

  it('names the served versions when the one meshbus reads is not among them', () => {
    expect(crdProblem({ spec: { versions: [{ name: 'v1beta1', served: true }, { name: server.version, served: false }] }, status: established }, server.version)).toEqual({
      kind: 'unserved',
      text: `serves v1beta1, meshbus reads ${server.version}`,
    });
    expect(crdProblem({ spec: {} }, server.version)).toEqual({ kind: 'unserved', text: `serves no version, meshbus reads ${server.version}` });
  });

  it('says why a CRD is not established, or nothing when no condition says', () => {
    expect(crdProblem(crd(server, { conditions: [{ type: 'Established', status: 'False', reason: 'Installing' }] }), server.version)).toEqual({ kind: 'unestablished', text: 'Established: Installing' });
    expect(crdProblem(crd(server, { conditions: [{ type: 'Established', status: 'Unknown' }] }), server.version)).toEqual({ kind: 'unestablished', text: '' });
  });
});
