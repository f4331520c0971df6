import { createHash } from 'node:crypto';
import { controlNamespaceLabel, names, proxyVersionAnnotation, trustRootAnnotation } from '@meshbus/injector';
import { objectPath, withLabels, type KubeObject } from './cluster.js';
import { Category, readInstallValues, readTrustAnchorsPem, type CheckContext, type ClusterCheck } from './context.js';
import { fail, pass } from './model.js';

interface ContainerStatus {
  readonly name?: string;
  readonly ready?: boolean;
  readonly state?: { readonly waiting?: { readonly reason?: string }; readonly terminated?: { readonly reason?: string } };
}

/** The fields of a meshed pod the data-plane checks read. */
export interface MeshedPod extends KubeObject {
  readonly status?: {
    readonly phase?: string;
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
  };
}

/** Pods are named in hints up to this many, then counted. */
const namedPods = 5;

function podName(pod: MeshedPod): string {
  return `${pod.metadata?.namespace ?? '?'}/${pod.metadata?.name ?? '?'}`;
}

function listPods(names: readonly string[]): string {
  return `${names.slice(0, namedPods).join(', ')}${names.length > namedPods ? ` and ${names.length - namedPods} more` : ''}`;
}

/** Pods of this installation marked meshed by the injector, that are not finished. */
async function meshedPods(context: CheckContext, signal: AbortSignal): Promise<MeshedPod[]> {
  const pods = await context.cluster.list<MeshedPod>(withLabels(objectPath('v1', 'pods'), { [controlNamespaceLabel]: context.namespace }), signal);
  return pods.filter((p) => p.metadata?.annotations?.[proxyVersionAnnotation] !== undefined && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

/** The proxy container's status: a container, or a native sidecar among the init containers. */
export function proxyStatus(pod: MeshedPod): ContainerStatus | undefined {
  const find = (list: readonly ContainerStatus[] | undefined) => list?.find((c) => c.name === names.proxyContainer);
  return find(pod.status?.containerStatuses) ?? find(pod.status?.initContainerStatuses);
}

function noPods(): ReturnType<typeof pass> {
  return pass('no meshed pods');
}

const roll = 'roll them (kubectl rollout restart of their workloads) so that the injector gives them the current proxy';

/** `--proxy`: the meshed pods' proxies. */
export function proxyChecks(): ClusterCheck[] {
  return [
    {
      id: 'proxy.version',
      category: Category.dataPlane,
      name: "meshed pods' proxies run the installation's version",
      dependsOn: ['cp.values'],
      async run(context, signal) {
        // The version the injector stamps on the pods it meshes, which values may pin apart from the installation's.
        const { proxyVersion: version } = await readInstallValues(context, signal);
        const pods = await meshedPods(context, signal);
        if (pods.length === 0) return noPods();
        const old = pods.filter((p) => p.metadata?.annotations?.[proxyVersionAnnotation] !== version);
        if (old.length === 0) return pass(`${pods.length} pod${pods.length === 1 ? '' : 's'} on ${version}`);
        const described = old.map((p) => `${podName(p)} (${p.metadata?.annotations?.[proxyVersionAnnotation] ?? '?'})`);
        return fail(`${old.length} of ${pods.length} meshed pods run another proxy than ${version}: ${listPods(described)}; ${roll}`);
      },
    },
    {
      id: 'proxy.ready',
      category: Category.dataPlane,
      name: "meshed pods' proxies are ready",
      dependsOn: ['api.reachable'],
      async run(context, signal) {
        const pods = await meshedPods(context, signal);
        if (pods.length === 0) return noPods();
        const notReady = pods
          .map((p) => ({ p, s: proxyStatus(p) }))
          .filter(({ s }) => s?.ready !== true)
          .map(({ p, s }) => {
            const reason = s === undefined ? `no ${names.proxyContainer} container` : (s.state?.waiting?.reason ?? s.state?.terminated?.reason ?? 'not ready');
            return `${podName(p)} (${reason})`;
          });
        if (notReady.length === 0) return pass();
        const first = pods.find((p) => proxyStatus(p)?.ready !== true)!;
        return fail(`${listPods(notReady)}; see kubectl -n ${first.metadata?.namespace ?? '?'} logs ${first.metadata?.name ?? '?'} -c ${names.proxyContainer}`);
      },
    },
    {
      id: 'proxy.trust-root',
      category: Category.dataPlane,
      name: 'meshed pods trust the current trust anchors',
      dependsOn: ['identity.anchors'],
      async run(context, signal) {
        const hash = createHash('sha256').update(await readTrustAnchorsPem(context, signal)).digest('hex');
        const pods = await meshedPods(context, signal);
        if (pods.length === 0) return noPods();
        const stale = pods.filter((p) => p.metadata?.annotations?.[trustRootAnnotation] !== hash).map(podName);
        if (stale.length === 0) return pass();
        return fail(`${stale.length} of ${pods.length} meshed pods were started with other trust anchors: ${listPods(stale)}; roll them so that their proxies read the current anchors`);
      },
    },
  ];
}
