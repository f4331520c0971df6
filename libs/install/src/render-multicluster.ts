/*
 * The multicluster objects of an installation (`multicluster.enabled`): the
 * multicluster service, which exports this cluster's labelled Services and
 * mirrors the exports of linked clusters, and the multicluster gateway, the
 * proxy in gateway mode that linked clusters' proxies open tunnels to. The
 * NATS side (JetStream domain, leaf nodes, link logins) is in render-nats.ts.
 */
import {
  componentLabel,
  gatewayGrpcPort,
  multiclusterAdminPort,
  multiclusterClusterRules,
  multiclusterGatewayAdminPort,
  multiclusterGatewayName,
  multiclusterGatewayPort,
  multiclusterGatewayServiceAccount,
  multiclusterName,
  natsUsersSecretName,
  partOf,
  partOfLabel,
  resourceSourceEnv,
  trustAnchorsConfigMapName,
  trustAnchorsKey,
  componentArgs,
} from './layout.js';
import { gatewayServiceHost, type InstallMaterial } from './material.js';
import type { KubeObject } from './objects.js';
import { antiAffinity, exposedService, resourcesOf, sha256 } from './render-common.js';
import { natsClientUrl } from './render-nats.js';
import type { ResolvedMulticluster, ResolvedValues, ResourceValues } from './values.js';

/** The uid the proxy runs as (the gateway is a proxy), and the one of the control-plane services (as render.ts's `controlPlaneUid`). */
const proxyUid = 2102;
const serviceUid = 2103;
/** How long the gateway's projected service-account token lives; the kubelet renews it at 80%. */
const gatewayTokenSeconds = 86_400;
const tokenDir = '/var/run/secrets/meshbus.io/identity';
const anchorsDir = '/var/run/meshbus/trust-anchors';

/** The `app.kubernetes.io/component` of the multicluster objects. */
export type MulticlusterComponent = 'multicluster' | 'multicluster-gateway';

export interface MulticlusterRenderInput {
  readonly values: ResolvedValues;
  readonly multicluster: ResolvedMulticluster;
  readonly material: InstallMaterial;
  readonly labels: (component: MulticlusterComponent) => Record<string, string>;
  readonly pullSecrets: object;
  readonly podAnnotations: (adminPort: number) => Record<string, string>;
}

function env(name: string, value: string | number | boolean): { name: string; value: string } {
  return { name, value: String(value) };
}

const containerSecurity = (uid: number) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

const probe = (path: string, failureThreshold: number) => ({ httpGet: { path, port: 'admin', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold });

interface DeploymentSpec {
  readonly name: string;
  readonly component: MulticlusterComponent;
  readonly serviceAccount: string;
  readonly automountToken: boolean;
  readonly replicas: number;
  readonly uid: number;
  readonly args: string[];
  readonly env: object[];
  readonly ports: object[];
  readonly adminPort: number;
  readonly resources: ResourceValues;
  readonly volumes: object[];
  readonly mounts: object[];
  readonly annotations?: Record<string, string>;
}

function deployment(input: MulticlusterRenderInput, d: DeploymentSpec): KubeObject {
  const v = input.values;
  const selector = { [partOfLabel]: partOf, [componentLabel]: d.component };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: d.name, namespace: v.namespace, labels: input.labels(d.component) },
    spec: {
      replicas: d.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: v.ha ? { maxSurge: 1, maxUnavailable: 1 } : { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: input.labels(d.component), annotations: { ...input.podAnnotations(d.adminPort), ...(d.annotations ?? {}) } },
        spec: {
          serviceAccountName: d.serviceAccount,
          automountServiceAccountToken: d.automountToken,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          ...input.pullSecrets,
          securityContext: { runAsNonRoot: true, runAsUser: d.uid, runAsGroup: d.uid, fsGroup: d.uid, seccompProfile: { type: 'RuntimeDefault' } },
          ...(v.ha ? { affinity: antiAffinity(selector, v.nodeAntiAffinity) } : {}),
          containers: [
            {
              name: d.component,
              image: `${v.image.repository}:${v.image.tag}`,
              imagePullPolicy: v.image.pullPolicy,
              args: d.args,
              env: d.env,
              ports: d.ports,
              livenessProbe: probe('/live', 3),
              readinessProbe: probe('/ready', 3),
              startupProbe: { ...probe('/live', 30), periodSeconds: 2 },
              resources: resourcesOf(d.resources),
              securityContext: containerSecurity(d.uid),
              volumeMounts: d.mounts,
            },
          ],
          volumes: d.volumes,
        },
      },
    },
  };
}

function pdb(input: MulticlusterRenderInput, name: string, component: MulticlusterComponent): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: input.values.namespace, labels: input.labels(component) },
    spec: { maxUnavailable: 1, selector: { matchLabels: { [partOfLabel]: partOf, [componentLabel]: component } } },
  };
}

/** The environment of the multicluster service, with the names services/multicluster/src/config.ts reads. */
function serviceEnv(v: ResolvedValues, mc: ResolvedMulticluster, material: InstallMaterial): object[] {
  return [
    { name: 'MESHBUS_REPLICA_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    env('MESHBUS_LOG_LEVEL', v.logLevel),
    env('MESHBUS_ADMIN_ADDR', `0.0.0.0:${multiclusterAdminPort}`),
    env('NATS_URL', v.externalNatsUrl ?? natsClientUrl(v)),
    env('NATS_USER', material.natsUsers.multicluster.user),
    { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: natsUsersSecretName, key: 'multicluster' } } },
    env('MESHBUS_STREAM_REPLICAS', v.streamReplicas),
    env(resourceSourceEnv, 'kubernetes'),
    env('MESHBUS_CLUSTER_NAME', mc.clusterName),
    ...(mc.links.length > 0 ? [env('MESHBUS_MULTICLUSTER_LINKS', mc.links.map((l) => l.cluster).join(','))] : []),
    ...(mc.gateway.addresses.length > 0 ? [env('MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES', mc.gateway.addresses.join(','))] : []),
    env('MESHBUS_MULTICLUSTER_GATEWAY_SERVICE_ACCOUNT', multiclusterGatewayServiceAccount),
    env('MESHBUS_CONTROL_NAMESPACE', v.namespace),
    env('MESHBUS_TRUST_DOMAIN', v.trustDomain),
    env('MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL', mc.heartbeatInterval),
    env('MESHBUS_MULTICLUSTER_GRACE', mc.grace),
  ];
}

/** The environment of the gateway: a proxy in gateway mode, with its identity from its projected token, as the injector sets a sidecar up. */
function gatewayEnv(v: ResolvedValues, mc: ResolvedMulticluster): object[] {
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return [
    env('MESHBUS_PROXY_MODE', 'gateway'),
    env('MESHBUS_PROXY_GATEWAYS', `${gatewayServiceHost(v.namespace, v.clusterDomain)}:${gatewayGrpcPort}`),
    // The control-plane gateway's certificate is signed by the mesh issuer, so the anchors verify it.
    ...(v.gatewayTls ? [env('MESHBUS_PROXY_GATEWAY_CA', `${anchorsDir}/${trustAnchorsKey}`)] : [env('MESHBUS_PROXY_GATEWAY_PLAINTEXT', true)]),
    env('MESHBUS_PROXY_CONTROL_NAMESPACE', v.namespace),
    env('MESHBUS_PROXY_CLUSTER_DOMAIN', v.clusterDomain),
    field('MESHBUS_PROXY_NAMESPACE', 'metadata.namespace'),
    field('MESHBUS_PROXY_WORKLOAD_NAME', 'metadata.name'),
    field('MESHBUS_PROXY_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    env('MESHBUS_PROXY_IDENTITY_TOKEN_FILE', `${tokenDir}/token`),
    env('MESHBUS_PROXY_TRUST_ANCHORS', `${anchorsDir}/${trustAnchorsKey}`),
    env('MESHBUS_PROXY_GATEWAY_ADDR', `0.0.0.0:${multiclusterGatewayPort}`),
    ...(mc.gateway.allowedIdentities !== undefined ? [env('MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES', mc.gateway.allowedIdentities.join(','))] : []),
    // The kubelet probes the admin port on the pod's address.
    env('MESHBUS_PROXY_ADMIN_ADDR', `0.0.0.0:${multiclusterGatewayAdminPort}`),
    env('MESHBUS_PROXY_LOG_LEVEL', v.logLevel),
  ];
}

/** Every multicluster object of the control namespace, in apply order. */
export function multiclusterObjects(input: MulticlusterRenderInput): KubeObject[] {
  const v = input.values;
  const mc = input.multicluster;
  const ns = v.namespace;
  const service: MulticlusterComponent = 'multicluster';
  const gateway: MulticlusterComponent = 'multicluster-gateway';
  const rbacName = multiclusterName;
  const out: KubeObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: multiclusterName, namespace: ns, labels: input.labels(service) }, automountServiceAccountToken: true },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: rbacName, labels: input.labels(service) },
      rules: multiclusterClusterRules.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: rbacName, labels: input.labels(service) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rbacName },
      subjects: [{ kind: 'ServiceAccount', name: multiclusterName, namespace: ns }],
    },
    deployment(input, {
      name: multiclusterName,
      component: service,
      serviceAccount: multiclusterName,
      automountToken: true,
      replicas: mc.replicas,
      uid: serviceUid,
      args: componentArgs('multicluster'),
      env: serviceEnv(v, mc, input.material),
      ports: [{ name: 'admin', containerPort: multiclusterAdminPort, protocol: 'TCP' }],
      adminPort: multiclusterAdminPort,
      resources: mc.resources,
      volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }],
      mounts: [{ name: 'tmp', mountPath: '/tmp' }],
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: multiclusterName, namespace: ns, labels: input.labels(service) },
      spec: { type: 'ClusterIP', selector: { [partOfLabel]: partOf, [componentLabel]: service }, ports: [{ name: 'admin', port: multiclusterAdminPort, targetPort: 'admin', protocol: 'TCP' }] },
    },
    // The gateway talks to no API: its token is a projected one for the identity service's audience only.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: multiclusterGatewayServiceAccount, namespace: ns, labels: input.labels(gateway) }, automountServiceAccountToken: false },
    deployment(input, {
      name: multiclusterGatewayName,
      component: gateway,
      serviceAccount: multiclusterGatewayServiceAccount,
      automountToken: false,
      replicas: mc.gateway.replicas,
      uid: proxyUid,
      args: ['proxy'],
      env: gatewayEnv(v, mc),
      ports: [
        { name: 'tunnel', containerPort: multiclusterGatewayPort, protocol: 'TCP' },
        { name: 'admin', containerPort: multiclusterGatewayAdminPort, protocol: 'TCP' },
      ],
      adminPort: multiclusterGatewayAdminPort,
      resources: mc.gateway.resources,
      volumes: [
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
        { name: 'identity-token', projected: { sources: [{ serviceAccountToken: { audience: v.identity.tokenAudience, expirationSeconds: gatewayTokenSeconds, path: 'token' } }] } },
        { name: 'trust-anchors', configMap: { name: trustAnchorsConfigMapName, items: [{ key: trustAnchorsKey, path: trustAnchorsKey }] } },
      ],
      mounts: [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'identity-token', mountPath: tokenDir, readOnly: true },
        { name: 'trust-anchors', mountPath: anchorsDir, readOnly: true },
      ],
      // A new trust anchor rolls the gateway, as it does the injector.
      annotations: { 'meshbus.io/config-checksum': sha256(input.material.identity.trustAnchorsPem) },
    }),
    exposedService(multiclusterGatewayName, ns, input.labels(gateway), { [partOfLabel]: partOf, [componentLabel]: gateway }, mc.gateway, [
      { name: 'tunnel', port: multiclusterGatewayPort, targetPort: 'tunnel', protocol: 'TCP' },
    ]),
  ];
  if (v.ha) out.push(pdb(input, multiclusterName, service), pdb(input, multiclusterGatewayName, gateway));
  return out;
}
