/** A collection the API server serves, as an informer watches it (across all namespaces). */
export interface KubeResource {
  /** Empty for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}

/** `<group>/<version>`, or `v1` for the core group. */
export function apiVersionOf(resource: KubeResource): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

/** The path of the collection across all namespaces: `/api/v1/pods`, `/apis/discovery.k8s.io/v1/endpointslices`. */
export function collectionPath(resource: KubeResource): string {
  return resource.group === '' ? `/api/${resource.version}/${resource.plural}` : `/apis/${resource.group}/${resource.version}/${resource.plural}`;
}

/** `pods`, `endpointslices.discovery.k8s.io`: how logs and metrics name a resource. */
export function resourceName(resource: KubeResource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

const core = (plural: string, kind: string): KubeResource => ({ group: '', version: 'v1', plural, kind });

export const kubeResources = {
  namespaces: core('namespaces', 'Namespace'),
  serviceAccounts: core('serviceaccounts', 'ServiceAccount'),
  services: core('services', 'Service'),
  pods: core('pods', 'Pod'),
  nodes: core('nodes', 'Node'),
  endpointSlices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice' },
  meshbusServiceProfiles: { group: 'meshbus.io', version: 'v1alpha1', plural: 'serviceprofiles', kind: 'ServiceProfile' },
  linkerdServiceProfiles: { group: 'linkerd.io', version: 'v1alpha2', plural: 'serviceprofiles', kind: 'ServiceProfile' },
  workloads: { group: 'meshbus.io', version: 'v1alpha1', plural: 'workloads', kind: 'Workload' },
  httpRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' },
  grpcRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', kind: 'GRPCRoute' },
} as const satisfies Record<string, KubeResource>;

/** The policy kinds under `policy.meshbus.io/v1alpha1` (the CRDs `meshbus install` creates). */
export const meshbusPolicyResources: readonly KubeResource[] = [
  ['servers', 'Server'],
  ['authorizationpolicies', 'AuthorizationPolicy'],
  ['meshtlsauthentications', 'MeshTLSAuthentication'],
  ['networkauthentications', 'NetworkAuthentication'],
  ['httplocalratelimitpolicies', 'HTTPLocalRateLimitPolicy'],
  ['httpfaultinjections', 'HTTPFaultInjection'],
].map(([plural, kind]) => ({ group: 'policy.meshbus.io', version: 'v1alpha1', plural: plural!, kind: kind! }));

/** The policy kinds under `policy.linkerd.io`, read when a cluster has them. */
export const linkerdPolicyResources: readonly KubeResource[] = [
  { group: 'policy.linkerd.io', version: 'v1beta3', plural: 'servers', kind: 'Server' },
  { group: 'policy.linkerd.io', version: 'v1alpha1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' },
  { group: 'policy.linkerd.io', version: 'v1alpha1', plural: 'meshtlsauthentications', kind: 'MeshTLSAuthentication' },
  { group: 'policy.linkerd.io', version: 'v1alpha1', plural: 'networkauthentications', kind: 'NetworkAuthentication' },
  { group: 'policy.linkerd.io', version: 'v1alpha1', plural: 'httplocalratelimitpolicies', kind: 'HTTPLocalRateLimitPolicy' },
  { group: 'policy.linkerd.io', version: 'v1beta3', plural: 'httproutes', kind: 'HTTPRoute' },
];

/**
 * What the destination service watches; within the `destination` ClusterRole
 * of `meshbus install`.
 */
export const destinationResources: readonly KubeResource[] = [
  kubeResources.namespaces,
  kubeResources.serviceAccounts,
  kubeResources.services,
  kubeResources.pods,
  kubeResources.nodes,
  kubeResources.endpointSlices,
  kubeResources.meshbusServiceProfiles,
  kubeResources.linkerdServiceProfiles,
  kubeResources.workloads,
];

/**
 * What the policy service watches; within the `policy` ClusterRole of
 * `meshbus install` (no Nodes: policy needs no zones).
 */
export const policyResources: readonly KubeResource[] = [
  kubeResources.namespaces,
  kubeResources.serviceAccounts,
  kubeResources.services,
  kubeResources.pods,
  kubeResources.workloads,
  ...meshbusPolicyResources,
  ...linkerdPolicyResources,
  kubeResources.httpRoutes,
  kubeResources.grpcRoutes,
];
