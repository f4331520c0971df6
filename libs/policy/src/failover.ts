import type { GrpcRoute, HttpRoute } from '@meshbus/manifests';

/** Route annotation naming the backend (a backendRef name) that the rule's other backends stand in for. */
export const failoverPrimaryAnnotation = 'failover.meshbus.io/primary-service';

/** One backend of a rule: its declared weight, and whether it has a ready endpoint at its port. */
export interface FailoverBackend {
  readonly weight: number;
  readonly ready: boolean;
}

/**
 * The weights a rule's backends get, `primary` being the index of the
 * primary backend. While the primary is ready, a backend without a ready
 * endpoint (a mirror whose link went quiet) gets 0 and the others keep their
 * declared weights. While the primary is not ready, it gets 0 and the ready
 * backends carry the traffic with their declared weights; when those are all
 * 0, the ready ones share it equally. When no backend is ready, or the
 * primary is not one of them, the declared weights apply.
 */
export function failoverWeights(backends: readonly FailoverBackend[], primary: number): number[] {
  const declared = backends.map((b) => b.weight);
  if (backends[primary] === undefined || !backends.some((b) => b.ready)) return declared;
  const effective = backends.map((b) => (b.ready ? b.weight : 0));
  if (effective.some((w) => w > 0)) return effective;
  return backends.map((b) => (b.ready ? 1 : 0));
}

/** Whether a rule's weights are failed over: the primary gets 0 where it declared more, or others got weight they did not declare. */
export const failedOver = (declared: readonly number[], effective: readonly number[]): boolean => declared.some((w, i) => w !== effective[i]);

/** The primary backend a route names in its failover annotation, or undefined. */
export const failoverPrimaryOf = (route: HttpRoute | GrpcRoute): string | undefined => route.annotations[failoverPrimaryAnnotation];

/** Why a route's failover annotation cannot be used, or undefined. */
export function failoverProblemOf(route: HttpRoute | GrpcRoute): string | undefined {
  const primary = failoverPrimaryOf(route);
  if (primary === undefined) return undefined;
  const path = `annotation ${failoverPrimaryAnnotation}`;
  if (primary.trim() === '') return `${path}: names no backend`;
  const named = route.rules.some((rule) => rule.backendRefs.some((ref) => ref.name === primary));
  if (!named) return `${path}: ${JSON.stringify(primary)} is not a backendRef of any rule of the route`;
  return undefined;
}
