import { componentName, natsPorts } from '@meshbus/install';
import { objectPath, serviceProxyPath, statusMessage } from './cluster.js';
import { workloadProblem, type WorkloadObject } from './checks-control-plane.js';
import { Category, readInstallValues, type ClusterCheck } from './context.js';
import { fail, pass, skip } from './model.js';

/** The monitor path that answers 200 once the server and JetStream are up. */
export const natsHealthPath = '/healthz?js-enabled-only=true';

/** The bundled NATS (or the external one the values name). */
export function natsChecks(): ClusterCheck[] {
  const name = componentName('nats');
  return [
    {
      id: 'nats.statefulset',
      category: Category.nats,
      name: `statefulset ${name} is ready`,
      dependsOn: ['cp.values'],
      async run(context, signal) {
        const values = await readInstallValues(context, signal);
        if (values.natsUrl !== undefined) return skip(`the installation uses the external NATS ${values.natsUrl}`);
        const { cluster, namespace } = context;
        const set = await cluster.get<WorkloadObject>(objectPath('apps/v1', 'statefulsets', { namespace, name }), signal);
        if (!set) return fail(`statefulset ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
        const problem = workloadProblem(set, 'statefulset');
        return problem === undefined ? pass() : fail(`${problem}; see kubectl -n ${namespace} describe statefulset ${name}`);
      },
    },
    {
      id: 'nats.reachable',
      category: Category.nats,
      name: 'NATS is reachable',
      dependsOn: ['cp.values'],
      async run(context, signal) {
        const values = await readInstallValues(context, signal);
        const { cluster, namespace } = context;
        if (values.natsUrl !== undefined) {
          try {
            const greeting = await context.natsGreeting(values.natsUrl, signal);
            return pass(`${greeting.address}${greeting.version ? `, nats-server ${greeting.version}` : ''}`);
          } catch (error) {
            return fail(`cannot reach the external NATS ${values.natsUrl}: ${(error as Error).message}; check nats.url in the values and that this machine may reach it`);
          }
        }
        const path = serviceProxyPath({ namespace, name, port: natsPorts.monitor, scheme: 'http' }, natsHealthPath);
        let res;
        try {
          res = await cluster.http.request({ method: 'GET', path, signal });
        } catch (error) {
          return fail(`the NATS monitor did not answer through the API server: ${(error as Error).message}; see kubectl -n ${namespace} logs statefulset/${name}`);
        }
        if (res.status === 200) return pass();
        return fail(`the NATS health endpoint answers ${res.status}: ${statusMessage(res.body)}; see kubectl -n ${namespace} logs statefulset/${name}`);
      },
    },
  ];
}
