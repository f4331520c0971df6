import type { KubeObject } from './kube-object.js';

/** The label of a Node that names its zone. */
export const zoneLabel = 'topology.kubernetes.io/zone';
/** The container the injector adds. */
export const proxyContainerName = 'meshbus-proxy';
/** The annotation the injector puts on a meshed pod. */
export const proxyVersionAnnotation = 'meshbus.io/proxy-version';

interface ContainerDocument {
  name?: string;
  restartPolicy?: string;
  ports?: { name?: string; containerPort?: number; protocol?: string }[];
  livenessProbe?: ProbeDocument;
  readinessProbe?: ProbeDocument;
  startupProbe?: ProbeDocument;
}

interface ProbeDocument {
  httpGet?: { port?: number | string; path?: string };
}

interface PodDocument extends KubeObject {
  spec?: { serviceAccountName?: string; nodeName?: string; containers?: ContainerDocument[]; initContainers?: ContainerDocument[] };
  status?: { phase?: string; podIP?: string; conditions?: { type?: string; status?: string }[] };
}

/**
 * The `meshbus.io/v1alpha1 Workload` document that stands for a Pod, for the
 * manifest decoder to validate like any Workload; undefined for a pod that
 * cannot receive traffic (no IP yet, or Succeeded or Failed).
 *
 * Ports are the TCP container ports (named ones keep their names; a number
 * or name already taken is left out), the service account that of the pod
 * (`default` when unset), ready the `Ready` condition, meshed whether the
 * pod runs the proxy (a container or a native sidecar named
 * `meshbus-proxy`) or carries the proxy version annotation, the zone that of
 * its Node. Probes are the containers' `httpGet` probes, a named probe port
 * resolved to its number. The proxy's own ports and probes are not the
 * workload's.
 */
export function workloadDocumentFromPod(pod: KubeObject, nodeZone: string | undefined): Record<string, unknown> | undefined {
  const p = pod as PodDocument;
  const phase = p.status?.phase;
  const address = p.status?.podIP;
  if (!address || phase === 'Succeeded' || phase === 'Failed') return undefined;
  const containers = p.spec?.containers ?? [];
  const sidecars = (p.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  const annotations = p.metadata.annotations ?? {};
  const meshed = [...containers, ...sidecars].some((c) => c.name === proxyContainerName) || annotations[proxyVersionAnnotation] !== undefined;
  const appContainers = [...sidecars, ...containers].filter((c) => c.name !== proxyContainerName);

  const ports: { name?: string; port: number }[] = [];
  const names = new Set<string>();
  for (const container of appContainers) {
    for (const port of container.ports ?? []) {
      if ((port.protocol ?? 'TCP') !== 'TCP' || typeof port.containerPort !== 'number') continue;
      if (ports.some((q) => q.port === port.containerPort)) continue;
      const name = port.name && !names.has(port.name) ? port.name : undefined;
      if (name) names.add(name);
      ports.push(name ? { name, port: port.containerPort } : { port: port.containerPort });
    }
  }

  const probes: { port: number; path: string }[] = [];
  for (const container of appContainers) {
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      const httpGet = probe?.httpGet;
      if (!httpGet) continue;
      const port = typeof httpGet.port === 'number' ? httpGet.port : container.ports?.find((q) => q.name === httpGet.port)?.containerPort;
      if (port === undefined) continue;
      const path = httpGet.path || '/';
      if (!probes.some((q) => q.port === port && q.path === path)) probes.push({ port, path });
    }
  }

  const ready = (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return {
    apiVersion: 'meshbus.io/v1alpha1',
    kind: 'Workload',
    metadata: {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      labels: p.metadata.labels ?? {},
      annotations,
    },
    spec: {
      address,
      ports,
      serviceAccount: p.spec?.serviceAccountName || 'default',
      ready,
      meshed,
      ...(nodeZone ? { zone: nodeZone } : {}),
      ...(probes.length > 0 ? { probes } : {}),
    },
  };
}

/** The node a pod runs on, if it is scheduled. */
export function podNodeName(pod: KubeObject): string | undefined {
  return (pod as PodDocument).spec?.nodeName || undefined;
}

/** A Node's zone label. */
export function nodeZone(node: KubeObject): string | undefined {
  return node.metadata.labels?.[zoneLabel] || undefined;
}
