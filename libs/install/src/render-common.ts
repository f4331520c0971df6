/* Pieces every part of the renderer uses. */
import { createHash } from 'node:crypto';
import type { KubeObject } from './objects.js';
import type { ResolvedExpose, ResourceValues } from './values.js';

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A container's `resources`, leaving out what is not set. */
export function resourcesOf(r: ResourceValues): object {
  return { ...(r.requests ? { requests: { ...r.requests } } : {}), ...(r.limits ? { limits: { ...r.limits } } : {}) };
}

/** Keeps replicas of one workload apart: across nodes (required or preferred) and across zones (preferred). */
export function antiAffinity(selector: Record<string, string>, nodes: 'required' | 'preferred'): object {
  const term = (topologyKey: string) => ({ labelSelector: { matchLabels: selector }, topologyKey });
  return {
    podAntiAffinity: {
      ...(nodes === 'required' ? { requiredDuringSchedulingIgnoredDuringExecution: [term('kubernetes.io/hostname')] } : {}),
      preferredDuringSchedulingIgnoredDuringExecution: [
        ...(nodes === 'preferred' ? [{ weight: 100, podAffinityTerm: term('kubernetes.io/hostname') }] : []),
        { weight: 50, podAffinityTerm: term('topology.kubernetes.io/zone') },
      ],
    },
  };
}

/** A Service that linked clusters reach (LoadBalancer by default), with the annotations and source ranges of its values. */
export function exposedService(name: string, namespace: string, labels: Record<string, string>, selector: Record<string, string>, expose: ResolvedExpose, ports: object[]): KubeObject {
  const annotations = Object.keys(expose.serviceAnnotations).length > 0 ? { annotations: { ...expose.serviceAnnotations } } : {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels, ...annotations },
    spec: {
      type: expose.serviceType,
      selector,
      ports,
      ...(expose.serviceType === 'LoadBalancer' && expose.loadBalancerSourceRanges.length > 0 ? { loadBalancerSourceRanges: [...expose.loadBalancerSourceRanges] } : {}),
    },
  };
}
