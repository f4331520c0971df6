import { crdName, customResources, partOf, partOfLabel } from '@meshbus/install';
import { objectPath, withLabels, type KubeObject } from './cluster.js';
import { Category, type ClusterCheck } from './context.js';
import { fail, pass, warn } from './model.js';

/** The cluster-scoped kinds `meshbus install` creates, as access reviews name them. */
export const clusterScopedResources = [
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', kind: 'CustomResourceDefinitions' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', kind: 'ClusterRoles' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBindings' },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfigurations' },
  { group: '', resource: 'namespaces', kind: 'Namespaces' },
] as const;

/** The Gateway API CRDs whose routes the policy service reads. */
export const gatewayApiCrds = ['httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io'] as const;

/** Namespaced kinds a meshbus installation puts in its namespace, looked for before installing. */
const installedKinds = [
  { apiVersion: 'apps/v1', plural: 'deployments', kind: 'deployment' },
  { apiVersion: 'apps/v1', plural: 'statefulsets', kind: 'statefulset' },
  { apiVersion: 'v1', plural: 'services', kind: 'service' },
  { apiVersion: 'v1', plural: 'configmaps', kind: 'configmap' },
  { apiVersion: 'v1', plural: 'secrets', kind: 'secret' },
] as const;

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

/** Who a CRD seems to belong to, from its labels and Helm's annotations. */
function ownerOf(crd: KubeObject): string {
  const labels = crd.metadata?.labels ?? {};
  const annotations = crd.metadata?.annotations ?? {};
  const release = annotations['meta.helm.sh/release-name'];
  if (release) return `Helm release ${release}`;
  const owner = labels[partOfLabel] ?? labels['app.kubernetes.io/managed-by'] ?? labels['app.kubernetes.io/name'];
  return owner ? owner : 'no meshbus label';
}

/** `--pre`: can meshbus be installed into this cluster? */
export function preChecks(): ClusterCheck[] {
  const access: ClusterCheck[] = clusterScopedResources.map((r) => ({
    id: `pre.create-${r.resource}`,
    category: Category.pre,
    name: `can create ${r.kind}`,
    dependsOn: ['api.reachable'],
    async run({ cluster }, signal) {
      const review = await cluster.post<AccessReview>(
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group: r.group, resource: r.resource } } },
        signal,
      );
      if (review.status?.allowed === true) return pass();
      const why = review.status?.reason || review.status?.evaluationError;
      return fail(`you may not create ${r.resource}${r.group ? `.${r.group}` : ''}${why ? ` (${why})` : ''}; install meshbus as a cluster administrator`);
    },
  }));
  return [
    ...access,
    {
      id: 'pre.namespace',
      category: Category.pre,
      name: 'control namespace holds no meshbus installation yet',
      dependsOn: ['api.reachable'],
      async run({ cluster, namespace }, signal) {
        const ns = await cluster.get(objectPath('v1', 'namespaces', { name: namespace }), signal);
        if (!ns) return pass(`namespace ${namespace} does not exist yet`);
        const found: string[] = [];
        for (const k of installedKinds) {
          const items = await cluster.list(withLabels(objectPath(k.apiVersion, k.plural, { namespace }), { [partOfLabel]: partOf }), signal);
          for (const item of items) found.push(`${k.kind} ${item.metadata?.name ?? '?'}`);
        }
        if (found.length === 0) return pass(`namespace ${namespace} exists and holds no meshbus objects`);
        return fail(`namespace ${namespace} already holds ${found.slice(0, 5).join(', ')}${found.length > 5 ? ` and ${found.length - 5} more` : ''}; run meshbus check to verify that installation, meshbus upgrade to change it, or pick another namespace`);
      },
    },
    {
      id: 'pre.crds',
      category: Category.pre,
      name: 'no meshbus CustomResourceDefinitions of another owner',
      dependsOn: ['api.reachable'],
      async run({ cluster }, signal) {
        const conflicts: string[] = [];
        for (const r of customResources) {
          const crd = await cluster.get(objectPath('apiextensions.k8s.io/v1', 'customresourcedefinitions', { name: crdName(r) }), signal);
          if (crd && crd.metadata?.labels?.[partOfLabel] !== partOf) conflicts.push(`${crdName(r)} (${ownerOf(crd)})`);
        }
        if (conflicts.length === 0) return pass();
        return fail(`these CRDs exist and were not installed by meshbus: ${conflicts.join(', ')}; remove them or find who installed them before installing`);
      },
    },
    {
      id: 'pre.gateway-api',
      category: Category.pre,
      name: 'Gateway API route CRDs are installed',
      dependsOn: ['api.reachable'],
      async run({ cluster }, signal) {
        const missing: string[] = [];
        for (const name of gatewayApiCrds) {
          if (!(await cluster.get(objectPath('apiextensions.k8s.io/v1', 'customresourcedefinitions', { name }), signal))) missing.push(name);
        }
        if (missing.length === 0) return pass();
        return warn(`${missing.join(' and ')} not installed: HTTPRoutes then work only from policy.linkerd.io; install the Gateway API CRDs to use gateway.networking.k8s.io routes`);
      },
    },
  ];
}
