import { multiclusterGatewayName, multiclusterName, natsLeafnodeServiceName } from '@meshbus/install';
import { objectPath, type KubeObject } from './cluster.js';
import { workloadProblem, type WorkloadObject } from './checks-control-plane.js';
import { Category, readInstallValues, type ClusterCheck } from './context.js';
import { fail, pass, warn } from './model.js';

interface ServiceObject extends KubeObject {
  readonly spec?: { readonly type?: string };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[] } };
}

function deploymentCheck(id: string, name: string): ClusterCheck {
  return {
    id,
    category: Category.multicluster,
    name: `deployment ${name} is ready`,
    dependsOn: ['cp.values'],
    applies: async (context, signal) => (await readInstallValues(context, signal)).multicluster !== undefined,
    async run(context, signal) {
      const { cluster, namespace } = context;
      const deployment = await cluster.get<WorkloadObject>(objectPath('apps/v1', 'deployments', { namespace, name }), signal);
      if (!deployment) return fail(`deployment ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
      const problem = workloadProblem(deployment, 'deployment');
      return problem === undefined ? pass() : fail(`${problem}; see kubectl -n ${namespace} describe deployment ${name}`);
    },
  };
}

/** A Service linked clusters connect to: it exists and, as a LoadBalancer, has an address. */
function exposedServiceCheck(id: string, name: string, what: string, relevant: (mc: NonNullable<Awaited<ReturnType<typeof readInstallValues>>['multicluster']>, external: boolean) => boolean): ClusterCheck {
  return {
    id,
    category: Category.multicluster,
    name: `service ${name} ${what}`,
    dependsOn: ['cp.values'],
    async applies(context, signal) {
      const values = await readInstallValues(context, signal);
      return values.multicluster !== undefined && relevant(values.multicluster, values.natsUrl !== undefined);
    },
    async run(context, signal) {
      const { cluster, namespace } = context;
      const service = await cluster.get<ServiceObject>(objectPath('v1', 'services', { namespace, name }), signal);
      if (!service) return fail(`service ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
      if (service.spec?.type !== 'LoadBalancer') return pass(service.spec?.type ?? 'ClusterIP');
      const ingress = (service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).filter((a): a is string => a !== undefined);
      if (ingress.length === 0) return warn(`the load balancer has no address yet, so linked clusters cannot reach it; see kubectl -n ${namespace} describe service ${name}`);
      return pass(ingress.join(', '));
    },
  };
}

/** The multicluster service, its gateway and, for an exporting cluster, the leaf node listener's Service; left out unless the values enable multicluster. */
export function multiclusterChecks(): ClusterCheck[] {
  return [
    deploymentCheck('mc.deployment.multicluster', multiclusterName),
    deploymentCheck('mc.deployment.gateway', multiclusterGatewayName),
    exposedServiceCheck('mc.service.gateway', multiclusterGatewayName, 'has an address for linked clusters', () => true),
    // Only an exporting cluster with the bundled NATS has the leaf node listener's Service.
    exposedServiceCheck('mc.service.leafnodes', natsLeafnodeServiceName, 'has an address for linked clusters', (mc, external) => mc.exports && !external),
  ];
}
