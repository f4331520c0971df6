/* Pieces every part of the renderer uses. */
import { createHash } from 'node:crypto';
import type { ResourceValues } from './values.js';

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
