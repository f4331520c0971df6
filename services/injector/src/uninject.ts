import { controlNamespaceLabel, injectedByAnnotation, proxyVersionAnnotation, proxyVersionLabel, trustRootAnnotation } from './annotations.js';
import { names } from './inject.js';
import type { Pod } from './k8s-types.js';

/**
 * Takes out what {@link injectPod} added: the proxy and proxy-init containers, their volumes and the
 * marks of a meshed pod. The `meshbus.io/inject` and configuration annotations stay. A pod that was
 * not injected comes back equal.
 */
export function uninjectPod(pod: Pod): Pod {
  const out = structuredClone(pod);
  const ours = new Set<string>([names.proxyContainer, names.initContainer]);
  const wasInjected = [...out.spec.containers, ...(out.spec.initContainers ?? [])].some((c) => ours.has(c.name));
  if (!wasInjected) return out;
  out.spec.containers = out.spec.containers.filter((c) => !ours.has(c.name));
  if (out.spec.initContainers) {
    out.spec.initContainers = out.spec.initContainers.filter((c) => !ours.has(c.name));
    if (out.spec.initContainers.length === 0) delete out.spec.initContainers;
  }
  if (out.spec.volumes) {
    out.spec.volumes = out.spec.volumes.filter((v) => v.name !== names.tokenVolume && v.name !== names.anchorsVolume);
    if (out.spec.volumes.length === 0) delete out.spec.volumes;
  }
  const meta = out.metadata;
  if (meta?.annotations) {
    for (const k of [proxyVersionAnnotation, trustRootAnnotation, injectedByAnnotation]) delete meta.annotations[k];
    if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
  }
  if (meta?.labels) {
    for (const k of [controlNamespaceLabel, proxyVersionLabel]) delete meta.labels[k];
    if (Object.keys(meta.labels).length === 0) delete meta.labels;
  }
  return out;
}
