import { componentName, components, crdName, customResources, type Component } from '@meshbus/install';
import { objectPath, withLabels, type KubeObject } from './cluster.js';
import { Category, readInstallValues, type ClusterCheck } from './context.js';
import { fail, pass } from './model.js';

/** The fields of a Deployment or StatefulSet the readiness checks read. */
export interface WorkloadObject extends KubeObject {
  readonly metadata?: KubeObject['metadata'] & { readonly generation?: number };
  readonly spec?: { readonly replicas?: number; readonly selector?: { readonly matchLabels?: Record<string, string> } };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly readyReplicas?: number;
    readonly availableReplicas?: number;
    readonly updatedReplicas?: number;
  };
}

interface PodObject extends KubeObject {
  readonly status?: {
    readonly phase?: string;
    readonly conditions?: readonly { readonly type?: string; readonly status?: string }[];
    readonly containerStatuses?: readonly { readonly name?: string; readonly ready?: boolean; readonly state?: { readonly waiting?: { readonly reason?: string } } }[];
  };
}

/**
 * Why a Deployment (or StatefulSet) is not ready, or undefined when every
 * wanted replica is updated, ready and (for a Deployment) available.
 */
export function workloadProblem(workload: WorkloadObject, kind: 'deployment' | 'statefulset'): string | undefined {
  const wanted = workload.spec?.replicas ?? 1;
  const status = workload.status ?? {};
  const generation = workload.metadata?.generation;
  if (generation !== undefined && (status.observedGeneration ?? 0) < generation) return 'the controller has not seen the newest spec yet';
  const ready = status.readyReplicas ?? 0;
  if (ready < wanted) return `${ready} of ${wanted} replica${wanted === 1 ? '' : 's'} ready`;
  if (kind === 'deployment' && (status.availableReplicas ?? 0) < wanted) return `${status.availableReplicas ?? 0} of ${wanted} replicas available`;
  if (status.updatedReplicas !== undefined && status.updatedReplicas < wanted) return `${status.updatedReplicas} of ${wanted} replicas updated (a rollout is under way)`;
  return undefined;
}

function describe(kind: string, namespace: string, name: string): string {
  return `kubectl -n ${namespace} describe ${kind} ${name}`;
}

function podProblem(pod: PodObject): string | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return undefined;
  const waiting = pod.status?.containerStatuses?.find((c) => c.ready !== true && c.state?.waiting?.reason)?.state?.waiting?.reason;
  return `${pod.metadata?.name ?? '?'} is ${pod.status?.phase ?? 'not ready'}${waiting ? ` (${waiting})` : ', not ready'}`;
}

function deploymentPath(namespace: string, component: Component): string {
  return objectPath('apps/v1', 'deployments', { namespace, name: componentName(component) });
}

interface CrdCondition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

/** The parts of a CustomResourceDefinition the checks read. */
export interface CrdObject extends KubeObject {
  readonly spec?: { readonly versions?: readonly { readonly name?: string; readonly served?: boolean }[] };
  readonly status?: { readonly conditions?: readonly CrdCondition[] };
}

/**
 * What keeps a CRD from serving `version`: the version is not among its served ones, or the API
 * server has not established it (the message of a condition that is not `True`, such as a names
 * conflict in `NamesAccepted`); undefined when it serves.
 */
export function crdProblem(crd: CrdObject, version: string): { kind: 'unserved' | 'unestablished'; text: string } | undefined {
  const versions = crd.spec?.versions ?? [];
  if (!versions.some((v) => v.name === version && v.served !== false)) {
    const served = versions.filter((v) => v.served !== false).map((v) => v.name ?? '?');
    return { kind: 'unserved', text: `serves ${served.length > 0 ? served.join(', ') : 'no version'}, meshbus reads ${version}` };
  }
  const conditions = crd.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
  const why = conditions.find((c) => c.status === 'False' && (c.message || c.reason));
  return { kind: 'unestablished', text: why ? `${why.type}: ${why.message || why.reason}` : '' };
}

/** The installation: its namespace, values, CRDs and every component. */
export function controlPlaneChecks(): ClusterCheck[] {
  const checks: ClusterCheck[] = [
    {
      id: 'cp.namespace',
      category: Category.controlPlane,
      name: 'control namespace exists',
      dependsOn: ['api.reachable'],
      async run({ cluster, namespace }, signal) {
        if (await cluster.get(objectPath('v1', 'namespaces', { name: namespace }), signal)) return pass(`namespace ${namespace}`);
        return fail(`namespace ${namespace} not found; install with meshbus install | kubectl apply -f -, or pass --namespace`);
      },
    },
    {
      id: 'cp.values',
      category: Category.controlPlane,
      name: 'installation values are readable',
      dependsOn: ['cp.namespace'],
      async run(context, signal) {
        const values = await readInstallValues(context, signal);
        return pass(`version ${values.version}${values.ha ? ', HA' : ''}${values.natsUrl ? `, external NATS ${values.natsUrl}` : ''}`);
      },
    },
    {
      id: 'cp.crds',
      category: Category.controlPlane,
      name: 'meshbus CustomResourceDefinitions are installed and established',
      dependsOn: ['api.reachable'],
      async run({ cluster }, signal) {
        const missing: string[] = [];
        const unserved: string[] = [];
        const unestablished: string[] = [];
        let firstUnestablished: string | undefined;
        for (const r of customResources) {
          const crd = await cluster.get<CrdObject>(objectPath('apiextensions.k8s.io/v1', 'customresourcedefinitions', { name: crdName(r) }), signal);
          if (!crd) {
            missing.push(crdName(r));
            continue;
          }
          const problem = crdProblem(crd, r.version);
          if (problem?.kind === 'unserved') unserved.push(`${crdName(r)} (${problem.text})`);
          else if (problem?.kind === 'unestablished') {
            firstUnestablished ??= crdName(r);
            unestablished.push(`${crdName(r)}${problem.text ? ` (${problem.text})` : ''}`);
          }
        }
        const problems: string[] = [];
        if (missing.length > 0) problems.push(`missing: ${missing.join(', ')}; apply the output of meshbus install again`);
        if (unserved.length > 0) problems.push(`not serving the version meshbus reads: ${unserved.join(', ')}; apply the output of meshbus install again`);
        if (unestablished.length > 0) problems.push(`not established: ${unestablished.join(', ')}; see kubectl describe crd ${firstUnestablished}`);
        return problems.length === 0 ? pass() : fail(problems.join('\n'));
      },
    },
  ];
  for (const component of components) {
    const name = componentName(component);
    checks.push({
      id: `cp.deployment.${component}`,
      category: Category.controlPlane,
      name: `deployment ${name} is ready`,
      dependsOn: ['cp.namespace'],
      async run({ cluster, namespace }, signal) {
        const deployment = await cluster.get<WorkloadObject>(deploymentPath(namespace, component), signal);
        if (!deployment) return fail(`deployment ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
        const problem = workloadProblem(deployment, 'deployment');
        return problem === undefined ? pass() : fail(`${problem}; see ${describe('deployment', namespace, name)}`);
      },
    });
  }
  for (const component of components) {
    const name = componentName(component);
    checks.push({
      id: `cp.pods.${component}`,
      category: Category.controlPlane,
      name: `pods of ${name} are ready`,
      dependsOn: [`cp.deployment.${component}`],
      async run({ cluster, namespace }, signal) {
        const deployment = await cluster.get<WorkloadObject>(deploymentPath(namespace, component), signal);
        const selector = deployment?.spec?.selector?.matchLabels;
        if (!selector || Object.keys(selector).length === 0) return fail(`deployment ${name} has no spec.selector.matchLabels; apply the output of meshbus install again`);
        const pods = await cluster.list<PodObject>(withLabels(objectPath('v1', 'pods', { namespace }), selector), signal);
        const running = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
        if (running.length === 0) return fail(`no pods match deployment ${name}; see ${describe('deployment', namespace, name)}`);
        const problems = running.map(podProblem).filter((p): p is string => p !== undefined);
        if (problems.length === 0) return pass(`${running.length} pod${running.length === 1 ? '' : 's'}`);
        const first = running.find((p) => podProblem(p) !== undefined)?.metadata?.name ?? '';
        return fail(`${problems.join('; ')}; see kubectl -n ${namespace} logs ${first}`);
      },
    });
  }
  return checks;
}
