/**
 * The names, ports and permissions of a meshbus installation in Kubernetes.
 * `meshbus install` renders objects with these names, `meshbus check` looks
 * for them, and each component's Kubernetes source stays within its rules.
 */

/** The control-plane components that run as Deployments. */
export const components = ['destination', 'identity', 'policy', 'gateway', 'injector'] as const;
export type Component = (typeof components)[number];

/** The namespace the control plane is installed in, unless values say otherwise. */
export const defaultControlNamespace = 'meshbus';

/** Label of the control plane's namespace (value `"true"`). */
export const controlPlaneNamespaceLabel = 'meshbus.io/control-plane-ns';

/** Labels every installed object carries. */
export const partOfLabel = 'app.kubernetes.io/part-of';
export const componentLabel = 'app.kubernetes.io/component';
export const versionLabel = 'app.kubernetes.io/version';
export const partOf = 'meshbus';

/** The Deployment, ServiceAccount and Service of a component: `meshbus-<component>`. */
export function componentName(component: Component | 'nats'): string {
  return `meshbus-${component}`;
}

/** Where each component serves /live, /ready and /metrics (`MESHBUS_ADMIN_ADDR`). */
export const adminPorts: Readonly<Record<Component, number>> = {
  destination: 9996,
  identity: 9990,
  policy: 9997,
  gateway: 9995,
  injector: 9998,
};

/** The gateway's gRPC port (the proxy API). */
export const gatewayGrpcPort = 8086;
/** The injector's HTTPS webhook port; its Service listens on 443. */
export const injectorWebhookPort = 8443;
/** NATS ports of the bundled NATS cluster (StatefulSet `meshbus-nats`, headless Service `meshbus-nats`). */
export const natsPorts = { client: 4222, cluster: 6222, monitor: 8222 } as const;

/** The bundled NATS cluster's size, its nats.conf ConfigMap, and the Service clients connect to (the headless `meshbus-nats` is for routes and pod names). */
export const natsReplicas = 3;
export const natsConfigMapName = 'meshbus-nats-config';
export const natsClientServiceName = 'meshbus-nats-client';
/**
 * The Secret with every NATS role's password (key `<role>`) and user name
 * (key `<role>.user`, the role's name unless a users file said otherwise)
 * and, under {@link natsAuthKey}, the nats-server `authorization` block built
 * from them (also for an external NATS).
 */
export const natsUsersSecretName = 'meshbus-nats-users';
export const natsAuthKey = 'auth.conf';

/** The MutatingWebhookConfiguration (cluster-scoped) and its one webhook's name. */
export const webhookConfigurationName = 'meshbus-injector';
export const webhookName = 'inject.meshbus.io';

/** Secrets and ConfigMaps in the control namespace. */
export const issuerSecretName = 'meshbus-identity-issuer';
export const tokenKeySecretName = 'meshbus-identity-token-key';
export const injectorTlsSecretName = 'meshbus-injector-tls';
export const gatewayTlsSecretName = 'meshbus-gateway-tls';
export const trustAnchorsConfigMapName = 'meshbus-trust-anchors';
/** Key of the trust anchors PEM in {@link trustAnchorsConfigMapName} (and in the issuer Secret). */
export const trustAnchorsKey = 'ca.crt';
/** The ConfigMap holding the values an installation was rendered from (key `values.yaml`), read by `meshbus upgrade`. */
export const valuesConfigMapName = 'meshbus-install-values';
export const valuesKey = 'values.yaml';

/** One rule of a ClusterRole. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

const read = ['get', 'list', 'watch'] as const;

/**
 * The cluster-wide permissions of each component's ServiceAccount (ClusterRole
 * `meshbus-<component>`), least privilege: read what its source watches,
 * create TokenReviews where tokens are checked. The identity issuer Secret is
 * read through a namespaced Role (see {@link namespacedRules}).
 */
export const clusterRules: Readonly<Record<Component, readonly PolicyRule[]>> = {
  destination: [
    { apiGroups: [''], resources: ['namespaces', 'services', 'pods', 'nodes', 'serviceaccounts'], verbs: read },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
    { apiGroups: ['meshbus.io'], resources: ['serviceprofiles', 'workloads'], verbs: read },
    { apiGroups: ['linkerd.io'], resources: ['serviceprofiles'], verbs: read },
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  ],
  identity: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }],
  policy: [
    { apiGroups: [''], resources: ['namespaces', 'services', 'pods', 'serviceaccounts'], verbs: read },
    { apiGroups: ['meshbus.io'], resources: ['workloads'], verbs: read },
    {
      apiGroups: ['policy.meshbus.io', 'policy.linkerd.io'],
      resources: ['servers', 'authorizationpolicies', 'meshtlsauthentications', 'networkauthentications', 'httplocalratelimitpolicies', 'httpfaultinjections', 'httproutes'],
      verbs: read,
    },
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'], verbs: read },
  ],
  gateway: [],
  injector: [{ apiGroups: [''], resources: ['namespaces'], verbs: read }],
};

/** Permissions in the control namespace only (Role `meshbus-<component>`). */
export const namespacedRules: Readonly<Partial<Record<Component, readonly (PolicyRule & { readonly resourceNames?: readonly string[] })[]>>> = {
  identity: [{ apiGroups: [''], resources: ['secrets'], verbs: read, resourceNames: [issuerSecretName] }],
};

/** The CustomResourceDefinitions meshbus installs, generated from the manifest JSON Schemas. */
export const customResources = [
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'Server', plural: 'servers' },
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies' },
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'MeshTLSAuthentication', plural: 'meshtlsauthentications' },
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'NetworkAuthentication', plural: 'networkauthentications' },
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'HTTPLocalRateLimitPolicy', plural: 'httplocalratelimitpolicies' },
  { group: 'policy.meshbus.io', version: 'v1alpha1', kind: 'HTTPFaultInjection', plural: 'httpfaultinjections' },
  { group: 'meshbus.io', version: 'v1alpha1', kind: 'ServiceProfile', plural: 'serviceprofiles' },
  { group: 'meshbus.io', version: 'v1alpha1', kind: 'Workload', plural: 'workloads' },
] as const;

/** `<plural>.<group>`, the name of a CustomResourceDefinition. */
export function crdName(resource: { readonly group: string; readonly plural: string }): string {
  return `${resource.plural}.${resource.group}`;
}

/**
 * How a control-plane container is started: the one meshbus image runs the CLI,
 * and `meshbus serve <component>` runs that component's service.
 */
export function componentArgs(component: ServedComponent): string[] {
  return ['serve', component];
}

/** The environment variable that selects where destination, policy and the injector read resources from. */
export const resourceSourceEnv = 'MESHBUS_RESOURCE_SOURCE';
export type ResourceSourceMode = 'manifests' | 'kubernetes';

/**
 * The multicluster objects, rendered when `multicluster.enabled` is true: the
 * `meshbus-multicluster` service (exports and mirrors), the multicluster
 * gateway (the proxy in gateway mode, identity `multicluster-gateway`) and the
 * NATS leaf node listener of an exporting cluster.
 */
export const multiclusterName = 'meshbus-multicluster';
export const multiclusterAdminPort = 9994;
/** The gateway's Deployment and Service; its ServiceAccount is the identity linked clusters are told of. */
export const multiclusterGatewayName = 'meshbus-multicluster-gateway';
export const multiclusterGatewayServiceAccount = 'multicluster-gateway';
/** The tunnel port of the gateway (`MESHBUS_PROXY_GATEWAY_ADDR`) and the proxy's admin port. */
export const multiclusterGatewayPort = 4180;
export const multiclusterGatewayAdminPort = 4191;
/** The Service exposing the bundled NATS cluster's leaf node listener to linked clusters. */
export const natsLeafnodeServiceName = 'meshbus-nats-leafnodes';
export const defaultLeafnodePort = 7422;
/** Key of a link login's password in {@link natsUsersSecretName}: `link-<cluster>`, as the user is named. */
export function linkUserName(cluster: string): string {
  return `link-${cluster}`;
}
/** The Secret a mirroring cluster holds the password of its link login to `cluster` in, unless values name another. */
export function linkPasswordSecretName(cluster: string): string {
  return `meshbus-link-${cluster}`;
}
export const linkPasswordKey = 'password';
/** Key of the CA that checks a linked cluster's leaf node certificate, by default in the link's password Secret. */
export const linkCaKey = 'ca.crt';
/** Where a NATS pod of a mirroring cluster finds the CA of its link to `cluster`. */
export function linkCaDir(cluster: string): string {
  return `/etc/nats/links/${cluster}`;
}
/** The Secret with the leaf node listener's certificate (`tls.crt`, `tls.key`), its CA (`ca.crt`) and the CA's key (`ca.key`). */
export const natsLeafnodeTlsSecretName = 'meshbus-nats-leafnode-tls';
/** Where a NATS pod of an exporting cluster finds the listener's certificate and key. */
export const natsLeafnodeTlsDir = '/etc/nats/leafnode-tls';

/**
 * The multicluster service's permissions: it reads Services (and their
 * endpoints) through the same source as destination, and checks no tokens.
 */
export const multiclusterClusterRules: readonly PolicyRule[] = clusterRules.destination.filter((r) => !r.apiGroups.includes('authentication.k8s.io'));

/** Everything `meshbus serve` runs: the control-plane components and the multicluster service. */
export const servedComponents = [...components, 'multicluster'] as const;
export type ServedComponent = (typeof servedComponents)[number];
