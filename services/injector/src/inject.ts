import {
  AnnotationError,
  controlNamespaceLabel,
  effectiveConfigAnnotations,
  injectAnnotation,
  injectedByAnnotation,
  parseConfigAnnotations,
  proxyVersionAnnotation,
  proxyVersionLabel,
  trustRootAnnotation,
  type PodOverrides,
} from './annotations.js';
import type { Container, NamespaceInfo, PatchOperation, Pod } from './k8s-types.js';

/** Names of what the injector adds, so that it (and uninject) can recognise them. */
export const names = {
  proxyContainer: 'meshbus-proxy',
  initContainer: 'meshbus-proxy-init',
  tokenVolume: 'meshbus-identity-token',
  anchorsVolume: 'meshbus-trust-anchors',
} as const;

export const proxyPorts = { outbound: 4140, inbound: 4143, admin: 4191 } as const;
export const proxyUid = 2102;

const tokenDir = '/var/run/meshbus/identity';
const anchorsDir = '/var/run/meshbus/trust-anchors';

/** What every injection uses, from the injector's configuration (or the CLI's flags). */
export interface InjectionConfig {
  /** Proxy image repository, without tag. */
  readonly proxyImage: string;
  readonly proxyVersion: string;
  /** Image of the proxy-init container; the proxy's image (and version) when absent. */
  readonly proxyInitImage?: string;
  /** The gateways' gRPC addresses, host:port. */
  readonly gateways: readonly string[];
  /** The name checked in the gateways' certificates. */
  readonly gatewayTlsName?: string;
  readonly controlNamespace: string;
  readonly clusterDomain: string;
  /** Audience of the projected service-account token the identity service checks. */
  readonly identityAudience: string;
  /** Lifetime of the projected token. */
  readonly tokenExpirationSeconds: number;
  /**
   * How the proxy gets the trust anchors: the PEM itself in its environment
   * (`MESHBUS_PROXY_TRUST_ANCHORS_PEM`, nothing to create in the pod's namespace), or a ConfigMap
   * of the pod's namespace whose key `ca.crt` holds them, mounted as a file.
   */
  readonly trustAnchors: TrustAnchorsDelivery;
  /** SHA-256 (hex) of the trust anchors PEM, recorded on the pod; `unknown` when not known (offline inject). */
  readonly trustRootSha256: string;
  /** PEM of the CA that issued the gateways' certificates (`MESHBUS_PROXY_GATEWAY_CA_PEM`); the system trust store when absent. */
  readonly gatewayCaPem?: string;
  /** The pod network is set up by the meshbus CNI plugin: no proxy-init container. */
  readonly cniMode: boolean;
  /** The proxy runs as a native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29+). */
  readonly nativeSidecar: boolean;
  /** Defaults of what the annotations may change. */
  readonly defaults: {
    readonly logLevel: string;
    readonly logFormat: 'json' | 'plain';
    readonly cpuRequest: string;
    readonly cpuLimit?: string;
    readonly memoryRequest: string;
    readonly memoryLimit?: string;
    readonly shutdownGracePeriod: string;
    readonly accessLog: 'off' | 'apache' | 'json';
  };
  /** Written into {@link injectedByAnnotation}, e.g. `meshbus-injector/0.1.0`. */
  readonly injectedBy: string;
}

/** See {@link InjectionConfig.trustAnchors}. */
export type TrustAnchorsDelivery = { readonly kind: 'pem'; readonly pem: string } | { readonly kind: 'configMap'; readonly name: string };

/** Namespaces never injected, whatever their annotations: the control plane's and Kubernetes' own. */
export function excludedNamespaces(config: Pick<InjectionConfig, 'controlNamespace'>): readonly string[] {
  return [config.controlNamespace, 'kube-system', 'kube-public', 'kube-node-lease'];
}

/** Why a pod was injected: its own annotation, or its namespace's. */
export type InjectedCode = 'PodEnabled' | 'NamespaceEnabled';
/** Why a pod was left as it was. */
export type SkippedCode = 'PodDisabled' | 'NotEnabled' | 'ExcludedNamespace' | 'AlreadyInjected' | 'HostNetwork';

export type InjectionResult =
  | {
      readonly kind: 'injected';
      readonly code: InjectedCode;
      readonly reason: string;
      /** The proxy version the pod gets (after the configuration annotations). */
      readonly proxyVersion: string;
      readonly patch: readonly PatchOperation[];
      /** The patched pod, computed when first read (the webhook only sends the patch). */
      readonly pod: Pod;
    }
  | { readonly kind: 'skipped'; readonly code: SkippedCode; readonly reason: string }
  /** A configuration annotation is unknown or malformed; the pod should not be admitted as it is. */
  | { readonly kind: 'refused'; readonly code: 'InvalidAnnotation'; readonly annotation: string; readonly message: string };

/** Whether the pod already carries what the injector adds. */
export function isInjected(pod: Pod): boolean {
  const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
  return all.some((c) => c.name === names.proxyContainer);
}

/**
 * The injection decision and transformation, a pure function: the JSON Patch that meshes the pod,
 * and the pod it gives. Nothing is read but the arguments.
 */
export function injectPod(pod: Pod, namespace: NamespaceInfo, config: InjectionConfig): InjectionResult {
  const podAnnotations = pod.metadata?.annotations ?? {};
  const podSetting = podAnnotations[injectAnnotation];
  const nsSetting = namespace.annotations[injectAnnotation];
  for (const [where, value] of [['pod', podSetting], ['namespace', nsSetting]] as const) {
    if (value !== undefined && value !== 'enabled' && value !== 'disabled') {
      return refused(new AnnotationError(injectAnnotation, value, `enabled or disabled (on the ${where})`));
    }
  }
  if (podSetting === 'disabled') return skipped('PodDisabled', `the pod is annotated ${injectAnnotation}: disabled`);
  if (podSetting !== 'enabled' && nsSetting !== 'enabled') return skipped('NotEnabled', `neither the pod nor namespace ${namespace.name} is annotated ${injectAnnotation}: enabled`);
  if (excludedNamespaces(config).includes(namespace.name)) return skipped('ExcludedNamespace', `namespace ${namespace.name} is never injected`);
  if (isInjected(pod)) return skipped('AlreadyInjected', `the pod already has a ${names.proxyContainer} container`);
  if (pod.spec.hostNetwork === true) return skipped('HostNetwork', 'the pod uses the host network; its traffic cannot be redirected to a proxy');

  const effective = effectiveConfigAnnotations(podAnnotations, namespace.annotations);
  let overrides: PodOverrides;
  try {
    overrides = parseConfigAnnotations(effective);
  } catch (error) {
    if (error instanceof AnnotationError) return refused(error);
    throw error;
  }
  const patch = buildPatch(pod, overrides, effective, config);
  const code: InjectedCode = podSetting === 'enabled' ? 'PodEnabled' : 'NamespaceEnabled';
  const reason = code === 'PodEnabled' ? `the pod is annotated ${injectAnnotation}: enabled` : `namespace ${namespace.name} is annotated ${injectAnnotation}: enabled`;
  let patched: Pod | undefined;
  return {
    kind: 'injected',
    code,
    reason,
    proxyVersion: overrides.proxyVersion ?? config.proxyVersion,
    patch,
    get pod(): Pod {
      patched ??= applyAdds(pod, patch);
      return patched;
    },
  };
}

function skipped(code: SkippedCode, reason: string): InjectionResult {
  return { kind: 'skipped', code, reason };
}

function refused(error: AnnotationError): InjectionResult {
  return { kind: 'refused', code: 'InvalidAnnotation', annotation: error.annotation, message: error.message };
}

/** TCP ports the pod's containers declare, without the skipped ones, sorted. */
function inboundPorts(pod: Pod, skip: readonly number[]): number[] {
  const out = new Set<number>();
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? 'TCP') === 'TCP' && !skip.includes(p.containerPort)) out.add(p.containerPort);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function fieldEnv(name: string, fieldPath: string): Record<string, unknown> {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

function proxyContainer(pod: Pod, o: PodOverrides, config: InjectionConfig, native: boolean): Container {
  const d = config.defaults;
  const version = o.proxyVersion ?? config.proxyVersion;
  const skipInbound = o.skipInboundPorts ?? [];
  const skipOutbound = o.skipOutboundPorts ?? [];
  const ports = inboundPorts(pod, skipInbound);
  const env: Record<string, unknown>[] = [
    { name: 'MESHBUS_PROXY_MODE', value: 'transparent' },
    { name: 'MESHBUS_PROXY_GATEWAYS', value: config.gateways.join(',') },
    ...(config.gatewayTlsName !== undefined ? [{ name: 'MESHBUS_PROXY_GATEWAY_TLS_NAME', value: config.gatewayTlsName }] : []),
    { name: 'MESHBUS_PROXY_CONTROL_NAMESPACE', value: config.controlNamespace },
    { name: 'MESHBUS_PROXY_CLUSTER_DOMAIN', value: config.clusterDomain },
    fieldEnv('MESHBUS_PROXY_NAMESPACE', 'metadata.namespace'),
    fieldEnv('MESHBUS_PROXY_WORKLOAD_NAME', 'metadata.name'),
    fieldEnv('MESHBUS_PROXY_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'MESHBUS_PROXY_IDENTITY_TOKEN_FILE', value: `${tokenDir}/token` },
    config.trustAnchors.kind === 'pem'
      ? { name: 'MESHBUS_PROXY_TRUST_ANCHORS_PEM', value: config.trustAnchors.pem }
      : { name: 'MESHBUS_PROXY_TRUST_ANCHORS', value: `${anchorsDir}/ca.crt` },
    ...(config.gatewayCaPem !== undefined ? [{ name: 'MESHBUS_PROXY_GATEWAY_CA_PEM', value: config.gatewayCaPem }] : []),
    { name: 'MESHBUS_PROXY_OUTBOUND_ADDR', value: `0.0.0.0:${proxyPorts.outbound}` },
    { name: 'MESHBUS_PROXY_INBOUND_ADDR', value: `0.0.0.0:${proxyPorts.inbound}` },
    // The kubelet probes the admin port on the pod's address.
    { name: 'MESHBUS_PROXY_ADMIN_ADDR', value: `0.0.0.0:${proxyPorts.admin}` },
    ...(ports.length > 0 ? [{ name: 'MESHBUS_PROXY_INBOUND_PORTS', value: ports.join(',') }] : []),
    ...(skipInbound.length + skipOutbound.length > 0 ? [{ name: 'MESHBUS_PROXY_SKIP_PORTS', value: [...new Set([...skipInbound, ...skipOutbound])].sort((a, b) => a - b).join(',') }] : []),
    { name: 'MESHBUS_PROXY_LOG_LEVEL', value: o.logLevel ?? d.logLevel },
    { name: 'MESHBUS_PROXY_LOG_FORMAT', value: o.logFormat ?? d.logFormat },
    { name: 'MESHBUS_PROXY_ACCESS_LOG', value: o.accessLog ?? d.accessLog },
    { name: 'MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD', value: o.shutdownGracePeriod ?? d.shutdownGracePeriod },
  ];
  const cpuLimit = o.cpuLimit ?? d.cpuLimit;
  const memoryLimit = o.memoryLimit ?? d.memoryLimit;
  const limits: Record<string, string> = {};
  if (cpuLimit !== undefined) limits.cpu = cpuLimit;
  if (memoryLimit !== undefined) limits.memory = memoryLimit;
  return {
    name: names.proxyContainer,
    image: `${o.proxyImage ?? config.proxyImage}:${version}`,
    imagePullPolicy: 'IfNotPresent',
    args: ['proxy'],
    ...(native ? { restartPolicy: 'Always' } : {}),
    env,
    ports: [
      { name: 'meshbus-inbound', containerPort: proxyPorts.inbound, protocol: 'TCP' },
      { name: 'meshbus-admin', containerPort: proxyPorts.admin, protocol: 'TCP' },
    ],
    livenessProbe: { httpGet: { path: '/live', port: proxyPorts.admin }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/ready', port: proxyPorts.admin }, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3 },
    // A native sidecar must be up before the next init container and the app start.
    ...(native ? { startupProbe: { httpGet: { path: '/ready', port: proxyPorts.admin }, periodSeconds: 1, failureThreshold: 120 } } : {}),
    resources: {
      requests: { cpu: o.cpuRequest ?? d.cpuRequest, memory: o.memoryRequest ?? d.memoryRequest },
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    },
    securityContext: {
      runAsUser: proxyUid,
      runAsGroup: proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: names.tokenVolume, mountPath: tokenDir, readOnly: true },
      ...(config.trustAnchors.kind === 'configMap' ? [{ name: names.anchorsVolume, mountPath: anchorsDir, readOnly: true }] : []),
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function initContainer(pod: Pod, o: PodOverrides, config: InjectionConfig): Container {
  const skipInbound = [proxyPorts.admin, ...(o.skipInboundPorts ?? [])];
  const env: Record<string, unknown>[] = [
    { name: 'MESHBUS_PROXY_UID', value: String(proxyUid) },
    { name: 'MESHBUS_PROXY_INBOUND_PORT', value: String(proxyPorts.inbound) },
    { name: 'MESHBUS_PROXY_OUTBOUND_PORT', value: String(proxyPorts.outbound) },
    { name: 'MESHBUS_PROXY_SKIP_INBOUND_PORTS', value: [...new Set(skipInbound)].sort((a, b) => a - b).join(',') },
    ...((o.skipOutboundPorts ?? []).length > 0 ? [{ name: 'MESHBUS_PROXY_SKIP_OUTBOUND_PORTS', value: o.skipOutboundPorts!.join(',') }] : []),
    ...((o.skipSubnets ?? []).length > 0 ? [{ name: 'MESHBUS_PROXY_SKIP_SUBNETS', value: o.skipSubnets!.join(',') }] : []),
  ];
  void pod;
  return {
    name: names.initContainer,
    image: config.proxyInitImage ?? `${o.proxyImage ?? config.proxyImage}:${o.proxyVersion ?? config.proxyVersion}`,
    imagePullPolicy: 'IfNotPresent',
    args: ['proxy-init'],
    env,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function volumes(config: InjectionConfig): Array<{ name: string; [key: string]: unknown }> {
  return [
    {
      name: names.tokenVolume,
      projected: { sources: [{ serviceAccountToken: { audience: config.identityAudience, expirationSeconds: config.tokenExpirationSeconds, path: 'token' } }] },
    },
    ...(config.trustAnchors.kind === 'configMap' ? [{ name: names.anchorsVolume, configMap: { name: config.trustAnchors.name, items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] : []),
  ];
}

/** `~` and `/` escaped for a JSON Pointer token (RFC 6901). */
export function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function buildPatch(pod: Pod, o: PodOverrides, effective: Record<string, string>, config: InjectionConfig): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const version = o.proxyVersion ?? config.proxyVersion;
  const native = o.nativeSidecar ?? config.nativeSidecar;

  // Marks: annotations (with the configuration inherited from the namespace, so the pod says what it runs with), labels.
  const annotations: Record<string, string> = {
    [proxyVersionAnnotation]: version,
    [trustRootAnnotation]: config.trustRootSha256,
    [injectedByAnnotation]: config.injectedBy,
  };
  const existing = pod.metadata?.annotations ?? {};
  for (const [k, v] of Object.entries(effective)) if (existing[k] === undefined) annotations[k] = v;
  // `kubectl logs` and `exec` keep going to the application when the proxy is first.
  if (!native && existing['kubectl.kubernetes.io/default-container'] === undefined) annotations['kubectl.kubernetes.io/default-container'] = pod.spec.containers[0]!.name;
  const labels: Record<string, string> = { [controlNamespaceLabel]: config.controlNamespace, [proxyVersionLabel]: version };

  if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: {} });
  for (const [field, values] of [['annotations', annotations], ['labels', labels]] as const) {
    const current = pod.metadata?.[field];
    if (current === undefined) ops.push({ op: 'add', path: `/metadata/${field}`, value: {} });
    for (const [k, v] of Object.entries(values)) ops.push({ op: 'add', path: `/metadata/${field}/${pointerToken(k)}`, value: v });
  }

  // Init containers: proxy-init first, then the native sidecar, before the pod's own.
  const inits: Container[] = [];
  if (!config.cniMode) inits.push(initContainer(pod, o, config));
  if (native) inits.push(proxyContainer(pod, o, config, true));
  if (inits.length > 0) {
    if (pod.spec.initContainers === undefined) ops.push({ op: 'add', path: '/spec/initContainers', value: inits });
    else inits.forEach((c, i) => ops.push({ op: 'add', path: `/spec/initContainers/${i}`, value: c }));
  }
  // The proxy as an ordinary container goes first, so that it starts before the application.
  if (!native) ops.push({ op: 'add', path: '/spec/containers/0', value: proxyContainer(pod, o, config, false) });

  const vols = volumes(config);
  if (pod.spec.volumes === undefined) ops.push({ op: 'add', path: '/spec/volumes', value: vols });
  else for (const v of vols) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  return ops;
}

function decodeToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Applies `add` operations to a copy of `doc` (RFC 6902 semantics for the paths the injector writes). */
export function applyAdds<T>(doc: T, patch: readonly PatchOperation[]): T {
  const root = structuredClone(doc) as unknown as Record<string, unknown>;
  for (const op of patch) {
    const tokens = op.path.split('/').slice(1).map(decodeToken);
    const last = tokens.pop()!;
    let target: unknown = root;
    for (const t of tokens) target = Array.isArray(target) ? target[Number(t)] : (target as Record<string, unknown>)[t];
    const value = structuredClone(op.value);
    if (Array.isArray(target)) {
      if (last === '-') target.push(value);
      else target.splice(Number(last), 0, value);
    } else {
      (target as Record<string, unknown>)[last] = value;
    }
  }
  return root as unknown as T;
}
