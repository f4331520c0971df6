/** A printer column of a resource type, as a CustomResourceDefinition's `additionalPrinterColumns` declares it. */
export interface FakePrinterColumn {
  name: string;
  /** `string`, `integer`, `number`, `boolean` or `date`. */
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

/** A kind of object the fake serves, with what discovery says about it. */
export interface FakeResourceType {
  /** `''` for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: readonly string[];
  shortNames?: readonly string[];
  categories?: readonly string[];
  /** Subresources the fake serves (`status`) or lists in discovery (`proxy`). */
  subresources?: readonly string[];
  /** Columns of `kubectl get` besides NAME (and AGE when there are none). */
  printerColumns?: readonly FakePrinterColumn[];
  /** The version's `openAPIV3Schema`, for OpenAPI documents. */
  schema?: unknown;
  /** Whether a CustomResourceDefinition defines the type (its list items keep `apiVersion` and `kind`). */
  custom?: boolean;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

function builtIn(
  groupVersion: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: { shortNames?: string[]; subresources?: string[]; verbs?: string[]; categories?: string[] } = {},
): FakeResourceType {
  const [group, version] = groupVersion.includes('/') ? (groupVersion.split('/') as [string, string]) : ['', groupVersion];
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    verbs: extra.verbs ?? ALL_VERBS,
    ...(extra.shortNames ? { shortNames: extra.shortNames } : {}),
    ...(extra.subresources ? { subresources: extra.subresources } : {}),
    ...(extra.categories ? { categories: extra.categories } : {}),
  };
}

const all = ['all'];

/** The built-in resources the fake serves from the start. */
export const BUILT_IN_RESOURCES: readonly FakeResourceType[] = [
  builtIn('v1', 'Pod', 'pods', true, { shortNames: ['po'], subresources: ['status', 'proxy'], categories: all }),
  builtIn('v1', 'Service', 'services', true, { shortNames: ['svc'], subresources: ['status', 'proxy'], categories: all }),
  builtIn('v1', 'Endpoints', 'endpoints', true, { shortNames: ['ep'] }),
  builtIn('v1', 'Namespace', 'namespaces', false, { shortNames: ['ns'], subresources: ['status'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }),
  builtIn('v1', 'Node', 'nodes', false, { shortNames: ['no'], subresources: ['status'] }),
  builtIn('v1', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
  builtIn('v1', 'Secret', 'secrets', true),
  builtIn('v1', 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'] }),
  builtIn('v1', 'Event', 'events', true, { shortNames: ['ev'] }),
  builtIn('apps/v1', 'Deployment', 'deployments', true, { shortNames: ['deploy'], subresources: ['status'], categories: all }),
  builtIn('apps/v1', 'StatefulSet', 'statefulsets', true, { shortNames: ['sts'], subresources: ['status'], categories: all }),
  builtIn('apps/v1', 'DaemonSet', 'daemonsets', true, { shortNames: ['ds'], subresources: ['status'], categories: all }),
  builtIn('apps/v1', 'ReplicaSet', 'replicasets', true, { shortNames: ['rs'], subresources: ['status'], categories: all }),
  builtIn('batch/v1', 'Job', 'jobs', true, { subresources: ['status'], categories: all }),
  builtIn('batch/v1', 'CronJob', 'cronjobs', true, { shortNames: ['cj'], subresources: ['status'], categories: all }),
  builtIn('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', true),
  builtIn('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, { shortNames: ['pdb'], subresources: ['status'] }),
  builtIn('rbac.authorization.k8s.io/v1', 'Role', 'roles', true),
  builtIn('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true),
  builtIn('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false),
  builtIn('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  builtIn('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false),
  builtIn('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false),
  builtIn('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, { shortNames: ['crd', 'crds'], subresources: ['status'] }),
  builtIn('coordination.k8s.io/v1', 'Lease', 'leases', true),
  builtIn('authentication.k8s.io/v1', 'TokenReview', 'tokenreviews', false, { verbs: ['create'] }),
  builtIn('authorization.k8s.io/v1', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', false, { verbs: ['create'] }),
];

export function groupVersionOf(type: Pick<FakeResourceType, 'group' | 'version'>): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** The path a group version is served under: `/api/v1`, `/apis/apps/v1`. */
export function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The store's name for a resource type's objects: `<prefix>|<plural>`. */
export function collectionKey(type: Pick<FakeResourceType, 'group' | 'version' | 'plural'>): string {
  return `${apiPrefix(groupVersionOf(type))}|${type.plural}`;
}

/** The lowercase plural a Kubernetes kind is served under (Secret → secrets, NetworkPolicy → networkpolicies). */
export function kindPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('s')) return lower;
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

interface CrdVersion {
  name?: unknown;
  served?: unknown;
  schema?: { openAPIV3Schema?: unknown };
  subresources?: { status?: unknown; scale?: unknown };
  additionalPrinterColumns?: unknown;
}

interface CrdSpec {
  group?: unknown;
  scope?: unknown;
  names?: { plural?: unknown; singular?: unknown; kind?: unknown; shortNames?: unknown; categories?: unknown; listKind?: unknown };
  versions?: unknown;
}

/** Why a CustomResourceDefinition cannot be served, or undefined when it can. */
export function crdProblem(crd: { metadata: { name: string }; [field: string]: unknown }): string | undefined {
  const spec = crd.spec as CrdSpec | undefined;
  if (!spec || typeof spec !== 'object') return 'spec is required';
  if (typeof spec.group !== 'string' || spec.group === '') return 'spec.group is required';
  if (typeof spec.names?.plural !== 'string' || spec.names.plural === '') return 'spec.names.plural is required';
  if (typeof spec.names.kind !== 'string' || spec.names.kind === '') return 'spec.names.kind is required';
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') return 'spec.scope must be Namespaced or Cluster';
  if (!Array.isArray(spec.versions) || spec.versions.length === 0) return 'spec.versions must have at least one version';
  for (const [i, v] of (spec.versions as CrdVersion[]).entries()) {
    if (typeof v?.name !== 'string' || v.name === '') return `spec.versions[${i}].name is required`;
  }
  if (crd.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    return `metadata.name must be spec.names.plural+"."+spec.group (${spec.names.plural}.${spec.group})`;
  }
  return undefined;
}

/** The resource types a valid CustomResourceDefinition (see {@link crdProblem}) defines: one per served version. */
export function crdResourceTypes(crd: { [field: string]: unknown }): FakeResourceType[] {
  const spec = crd.spec as CrdSpec;
  const names = spec.names!;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined);
  const shortNames = strings(names.shortNames);
  const categories = strings(names.categories);
  return (spec.versions as CrdVersion[])
    .filter((v) => v.served !== false)
    .map((v) => ({
      group: spec.group as string,
      version: v.name as string,
      plural: names.plural as string,
      singular: typeof names.singular === 'string' && names.singular !== '' ? names.singular : (names.kind as string).toLowerCase(),
      kind: names.kind as string,
      namespaced: spec.scope === 'Namespaced',
      verbs: ALL_VERBS,
      custom: true,
      ...(shortNames?.length ? { shortNames } : {}),
      ...(categories?.length ? { categories } : {}),
      ...(v.subresources?.status ? { subresources: ['status'] } : {}),
      ...(Array.isArray(v.additionalPrinterColumns) ? { printerColumns: v.additionalPrinterColumns as FakePrinterColumn[] } : {}),
      ...(v.schema?.openAPIV3Schema ? { schema: v.schema.openAPIV3Schema } : {}),
    }));
}

/** `GET /api/v1` or `/apis/<group>/<version>`: an APIResourceList of the group version's types. */
export function apiResourceList(groupVersion: string, types: readonly FakeResourceType[]): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      ...(t.categories ? { categories: t.categories } : {}),
      storageVersionHash: '',
    });
    for (const sub of t.subresources ?? []) {
      const verbs = sub === 'proxy' ? ['create', 'delete', 'get', 'patch', 'update'] : ['get', 'patch', 'update'];
      resources.push({ name: `${t.plural}/${sub}`, singularName: '', namespaced: t.namespaced, kind: sub === 'proxy' ? `${t.kind}ProxyOptions` : t.kind, verbs });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

/** One APIGroup of `GET /apis`, its versions in the order given. */
export function apiGroup(name: string, versions: readonly string[]): Record<string, unknown> {
  const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: list, preferredVersion: list[0] };
}

/** The groups (other than the core group) of `types`, each with its versions, in the order they first appear. */
export function groupsOf(types: Iterable<FakeResourceType>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of types) {
    if (t.group === '') continue;
    const versions = groups.get(t.group) ?? [];
    if (!versions.includes(t.version)) versions.push(t.version);
    groups.set(t.group, versions);
  }
  return groups;
}
