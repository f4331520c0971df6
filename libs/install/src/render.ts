/*
 * values + key material → the ordered objects of an installation. Pure: the
 * same input gives the same objects, so a golden file can hold them and an
 * upgrade can re-render with the material read back from the cluster.
 * Order: CRDs, Namespace, then everything namespaced, the webhook
 * configuration last (it must not call an injector that is not there yet).
 */
import type { NatsRole } from '@meshbus/local-nats';
import { customResourceDefinitions } from './crds.js';
import {
  adminPorts,
  clusterRules,
  componentArgs,
  componentLabel,
  controlPlaneNamespaceLabel,
  componentName,
  components,
  gatewayGrpcPort,
  gatewayTlsSecretName,
  injectorTlsSecretName,
  injectorWebhookPort,
  issuerSecretName,
  namespacedRules,
  natsUsersSecretName,
  partOf,
  partOfLabel,
  resourceSourceEnv,
  trustAnchorsConfigMapName,
  trustAnchorsKey,
  valuesConfigMapName,
  valuesKey,
  versionLabel,
  webhookConfigurationName,
  webhookName,
  type Component,
} from './layout.js';
import type { InstallMaterial } from './material.js';
import { antiAffinity, b64, resourcesOf, sha256 } from './render-common.js';
import { installationUsersSecret, natsClientUrl, natsObjects } from './render-nats.js';
import { multiclusterObjects } from './render-multicluster.js';
import type { KubeObject } from './objects.js';
import { resolveValues, type InstallValues, type ResolvedValues } from './values.js';
import { stringify } from 'yaml';

/** Annotation that keeps the control plane's own pods and namespace out of injection. */
export const injectAnnotation = 'meshbus.io/inject';
/** Pod template annotation: a hash of the configuration a pod reads from files, so a change rolls the pods. */
export const configChecksumAnnotation = 'meshbus.io/config-checksum';

/** The uid and gid the control-plane containers run as (the proxy runs as 2102). */
export const controlPlaneUid = 2103;

export interface RenderInput {
  /** The values given (merged from files, --set and flags); stored as they are for upgrades. */
  readonly values: InstallValues;
  readonly material: InstallMaterial;
  /** The meshbus version: image tag and `app.kubernetes.io/version`. */
  readonly version: string;
}

/** Which NATS login each component connects with. The injector's may only publish its pod-injection events. */
export const componentNatsRole: Readonly<Record<Component, NatsRole | undefined>> = {
  destination: 'destination',
  identity: 'identity',
  policy: 'policy',
  gateway: 'gateway',
  injector: 'injector',
};

const tlsDir = '/var/run/meshbus/tls';
const anchorsDir = '/var/run/meshbus/trust-anchors';

/** Renders every object of an installation, in apply order. */
export function renderInstallation(input: RenderInput): KubeObject[] {
  const v = resolveValues(input.values, input.version);
  const ns = v.namespace;
  const labels = (component?: Component | 'nats' | 'multicluster' | 'multicluster-gateway') => ({
    [partOfLabel]: partOf,
    [versionLabel]: input.version,
    ...(component ? { [componentLabel]: component } : {}),
  });
  const objects: KubeObject[] = [];
  objects.push(...customResourceDefinitions({ [partOfLabel]: partOf, [versionLabel]: input.version }));
  objects.push({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns, labels: { ...labels(), [controlPlaneNamespaceLabel]: 'true' }, annotations: { [injectAnnotation]: 'disabled' } },
  });
  objects.push(...identityObjects(v, input.material, labels));
  objects.push(...tlsObjects(v, input.material, labels));
  const linkPasswords = input.material.linkPasswords;
  const leafnodeTls = input.material.leafnodeTls;
  if (!v.externalNatsUrl) {
    objects.push(
      ...natsObjects({ values: v, users: input.material.natsUsers, labels: labels('nats'), version: input.version, ...(linkPasswords ? { linkPasswords } : {}), ...(leafnodeTls ? { leafnodeTls } : {}) }),
    );
  } else objects.push(installationUsersSecret(v, input.material.natsUsers, labels('nats'), linkPasswords));
  for (const component of components) objects.push(...componentObjects(component, v, input, labels));
  if (v.multicluster) {
    objects.push(
      ...multiclusterObjects({
        values: v,
        multicluster: v.multicluster,
        material: input.material,
        labels,
        pullSecrets: v.imagePullSecrets.length > 0 ? { imagePullSecrets: v.imagePullSecrets.map((s) => ({ name: s })) } : {},
        podAnnotations: (adminPort) => ({ [injectAnnotation]: 'disabled', 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(adminPort), 'prometheus.io/path': '/metrics' }),
      }),
    );
  }
  objects.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: valuesConfigMapName, namespace: ns, labels: labels() },
    // The given values, and the version they were rendered with (which `meshbus check` compares the pods with).
    data: { [valuesKey]: stringify({ ...input.values, version: input.version }, { sortMapEntries: true }) },
  });
  objects.push(webhookConfiguration(v, input.material, labels('injector')));
  return objects;
}

type Labels = (component?: Component | 'nats' | 'multicluster' | 'multicluster-gateway') => Record<string, string>;

function identityObjects(v: ResolvedValues, material: InstallMaterial, labels: Labels): KubeObject[] {
  // The injector reads the anchors from here and puts them into each injected proxy's environment.
  const out: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: trustAnchorsConfigMapName, namespace: v.namespace, labels: labels('identity') },
      data: { [trustAnchorsKey]: material.identity.trustAnchorsPem },
    },
  ];
  if (!v.identity.externalIssuer) {
    const issuer = material.identity.issuer;
    if (!issuer) throw new Error('the issuer certificate and key are required unless identity.issuer.external is true');
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: issuerSecretName, namespace: v.namespace, labels: labels('identity') },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(issuer.certificatePem), 'tls.key': b64(issuer.privateKeyPem), [trustAnchorsKey]: b64(material.identity.trustAnchorsPem) },
    });
  }
  return out;
}

function tlsSecret(name: string, namespace: string, labels: Record<string, string>, m: { caPem: string; certificatePem: string; privateKeyPem: string }): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(m.certificatePem), 'tls.key': b64(m.privateKeyPem), 'ca.crt': b64(m.caPem) },
  };
}

function tlsObjects(v: ResolvedValues, material: InstallMaterial, labels: Labels): KubeObject[] {
  const out = [tlsSecret(injectorTlsSecretName, v.namespace, labels('injector'), material.injectorTls)];
  if (v.gatewayTls && material.gatewayTls) out.push(tlsSecret(gatewayTlsSecretName, v.namespace, labels('gateway'), material.gatewayTls));
  return out;
}

function env(name: string, value: string | number | boolean): { name: string; value: string } {
  return { name, value: String(value) };
}

/** The environment of a component, with the variable names its config.ts reads. */
function componentEnv(component: Component, v: ResolvedValues, material: InstallMaterial): object[] {
  const ns = v.namespace;
  const common: object[] = [
    { name: 'MESHBUS_REPLICA_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    env('MESHBUS_LOG_LEVEL', v.logLevel),
    env('MESHBUS_ADMIN_ADDR', `0.0.0.0:${adminPorts[component]}`),
  ];
  const role = componentNatsRole[component];
  if (role) {
    common.push(
      env('NATS_URL', v.externalNatsUrl ?? natsClientUrl(v)),
      env('NATS_USER', material.natsUsers[role].user),
      { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: natsUsersSecretName, key: role } } },
      env('MESHBUS_STREAM_REPLICAS', v.streamReplicas),
    );
  }
  switch (component) {
    case 'destination':
      return [
        ...common,
        env(resourceSourceEnv, 'kubernetes'),
        env('MESHBUS_TOKEN_VALIDATION', 'kubernetes'),
        env('MESHBUS_TOKEN_AUDIENCE', v.identity.tokenAudience),
        env('MESHBUS_CONTROL_NAMESPACE', ns),
        env('MESHBUS_TRUST_DOMAIN', v.trustDomain),
        env('MESHBUS_CLUSTER_DOMAIN', v.clusterDomain),
      ];
    case 'identity':
      return [
        ...common,
        env('MESHBUS_IDENTITY_MODE', 'kubernetes'),
        env('MESHBUS_ISSUER_SECRET', `${ns}/${issuerSecretName}`),
        env('MESHBUS_TOKEN_AUDIENCE', v.identity.tokenAudience),
        env('MESHBUS_CONTROL_NAMESPACE', ns),
        env('MESHBUS_TRUST_DOMAIN', v.trustDomain),
      ];
    case 'policy':
      return [
        ...common,
        env(resourceSourceEnv, 'kubernetes'),
        env('MESHBUS_CONTROL_NAMESPACE', ns),
        env('MESHBUS_TRUST_DOMAIN', v.trustDomain),
        env('MESHBUS_CLUSTER_DOMAIN', v.clusterDomain),
        env('MESHBUS_DEFAULT_INBOUND_POLICY', v.defaultInboundPolicy),
      ];
    case 'gateway':
      return [
        ...common,
        env('MESHBUS_GRPC_ADDR', `0.0.0.0:${gatewayGrpcPort}`),
        env('MESHBUS_ENSURE_STREAMS', false),
        env('MESHBUS_CLUSTER_DOMAIN', v.clusterDomain),
        ...(v.gatewayTls ? [env('MESHBUS_TLS_CERT', `${tlsDir}/tls.crt`), env('MESHBUS_TLS_KEY', `${tlsDir}/tls.key`)] : []),
      ];
    case 'injector':
      return [
        ...common,
        env(resourceSourceEnv, 'kubernetes'),
        env('MESHBUS_INJECTOR_ADDR', `0.0.0.0:${injectorWebhookPort}`),
        env('MESHBUS_INJECTOR_TLS_CERT', `${tlsDir}/tls.crt`),
        env('MESHBUS_INJECTOR_TLS_KEY', `${tlsDir}/tls.key`),
        env('MESHBUS_INJECTOR_TRUST_ANCHORS', `${anchorsDir}/${trustAnchorsKey}`),
        // The gateway's certificate is signed by the mesh issuer, so the anchors verify it.
        ...(v.gatewayTls ? [env('MESHBUS_INJECTOR_GATEWAY_CA', `${anchorsDir}/${trustAnchorsKey}`)] : []),
        env('MESHBUS_CONTROL_NAMESPACE', ns),
        env('MESHBUS_CLUSTER_DOMAIN', v.clusterDomain),
        env('MESHBUS_TOKEN_AUDIENCE', v.identity.tokenAudience),
        env('MESHBUS_INJECTOR_PROXY_IMAGE', v.injector.proxyImage),
        env('MESHBUS_INJECTOR_PROXY_VERSION', v.injector.proxyVersion),
        ...(v.injector.proxyInitImage ? [env('MESHBUS_INJECTOR_PROXY_INIT_IMAGE', v.injector.proxyInitImage)] : []),
        env('MESHBUS_INJECTOR_CNI', v.injector.cni),
        env('MESHBUS_INJECTOR_NATIVE_SIDECAR', v.injector.nativeSidecar),
      ];
  }
}

function volumesOf(component: Component, v: ResolvedValues): { volumes: object[]; mounts: object[] } {
  const volumes: object[] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }];
  const mounts: object[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (component === 'injector' || (component === 'gateway' && v.gatewayTls)) {
    volumes.push({ name: 'tls', secret: { secretName: component === 'injector' ? injectorTlsSecretName : gatewayTlsSecretName, defaultMode: 0o440 } });
    mounts.push({ name: 'tls', mountPath: tlsDir, readOnly: true });
  }
  if (component === 'injector') {
    volumes.push({ name: 'trust-anchors', configMap: { name: trustAnchorsConfigMapName, items: [{ key: trustAnchorsKey, path: trustAnchorsKey }] } });
    mounts.push({ name: 'trust-anchors', mountPath: anchorsDir, readOnly: true });
  }
  return { volumes, mounts };
}

function componentObjects(component: Component, v: ResolvedValues, input: RenderInput, labels: Labels): KubeObject[] {
  const name = componentName(component);
  const ns = v.namespace;
  const selector = { [partOfLabel]: partOf, [componentLabel]: component };
  const settings = v.components[component];
  const needsApi = clusterRules[component].length > 0 || namespacedRules[component] !== undefined;
  const out: KubeObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns, labels: labels(component) }, automountServiceAccountToken: needsApi },
  ];
  if (clusterRules[component].length > 0) {
    out.push(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name, labels: labels(component) },
        rules: clusterRules[component].map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name, labels: labels(component) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      },
    );
  }
  const namespaced = namespacedRules[component];
  if (namespaced) {
    out.push(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name, namespace: ns, labels: labels(component) },
        rules: namespaced.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs], ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}) })),
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace: ns, labels: labels(component) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      },
    );
  }
  const { volumes, mounts } = volumesOf(component, v);
  const adminPort = adminPorts[component];
  const ports: object[] = [{ name: 'admin', containerPort: adminPort, protocol: 'TCP' }];
  if (component === 'gateway') ports.push({ name: 'grpc', containerPort: gatewayGrpcPort, protocol: 'TCP' });
  if (component === 'injector') ports.push({ name: 'webhook', containerPort: injectorWebhookPort, protocol: 'TCP' });
  const material = input.material;
  const fileInputs = component === 'injector' ? material.injectorTls.certificatePem + material.identity.trustAnchorsPem : component === 'gateway' ? (material.gatewayTls?.certificatePem ?? '') : '';
  const probe = (path: string, failureThreshold: number) => ({ httpGet: { path, port: 'admin', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold });
  out.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: labels(component) },
    spec: {
      replicas: settings.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: v.ha ? { maxSurge: 1, maxUnavailable: 1 } : { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(component),
          annotations: {
            [injectAnnotation]: 'disabled',
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(adminPort),
            'prometheus.io/path': '/metrics',
            ...(fileInputs ? { [configChecksumAnnotation]: sha256(fileInputs) } : {}),
          },
        },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: needsApi,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          ...(v.imagePullSecrets.length > 0 ? { imagePullSecrets: v.imagePullSecrets.map((s) => ({ name: s })) } : {}),
          securityContext: { runAsNonRoot: true, runAsUser: controlPlaneUid, runAsGroup: controlPlaneUid, fsGroup: controlPlaneUid, seccompProfile: { type: 'RuntimeDefault' } },
          ...(v.ha ? { affinity: antiAffinity(selector, v.nodeAntiAffinity) } : {}),
          containers: [
            {
              name: component,
              image: `${v.image.repository}:${v.image.tag}`,
              imagePullPolicy: v.image.pullPolicy,
              args: componentArgs(component),
              env: componentEnv(component, v, input.material),
              ports,
              livenessProbe: probe('/live', 3),
              readinessProbe: probe('/ready', 3),
              startupProbe: { ...probe('/live', 30), periodSeconds: 2 },
              resources: resourcesOf(settings.resources),
              securityContext: {
                runAsNonRoot: true,
                runAsUser: controlPlaneUid,
                runAsGroup: controlPlaneUid,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  });
  const servicePorts: object[] = [{ name: 'admin', port: adminPort, targetPort: 'admin', protocol: 'TCP' }];
  if (component === 'gateway') {
    // gRPC: over TLS, or HTTP/2 in clear text (`kubernetes.io/h2c`) when the gateway serves without TLS.
    servicePorts.unshift({ name: 'grpc', port: gatewayGrpcPort, targetPort: 'grpc', protocol: 'TCP', ...(v.gatewayTls ? {} : { appProtocol: 'kubernetes.io/h2c' }) });
  }
  if (component === 'injector') servicePorts.unshift({ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' });
  out.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: labels(component) },
    spec: { type: 'ClusterIP', selector, ports: servicePorts },
  });
  if (v.ha) {
    out.push({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name, namespace: ns, labels: labels(component) },
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    });
  }
  return out;
}

function webhookConfiguration(v: ResolvedValues, material: InstallMaterial, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: webhookConfigurationName, labels },
    webhooks: [
      {
        name: webhookName,
        clientConfig: {
          service: { name: componentName('injector'), namespace: v.namespace, path: '/inject', port: 443 },
          caBundle: b64(material.injectorTls.caPem),
        },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [v.namespace, 'kube-system'] }] },
        failurePolicy: v.webhook.failurePolicy,
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: v.webhook.timeoutSeconds,
        reinvocationPolicy: 'Never',
      },
    ],
  };
}
