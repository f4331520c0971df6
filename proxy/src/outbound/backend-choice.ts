/*
 * Which backend of a rule's distribution a request goes to.
 */
import { toBackendTarget, type BackendTarget } from './backend-target.js';

/** One backend of a rule, with its filters (HTTP or gRPC filter type `F`). */
export interface RouteBackend<F> {
  readonly target: BackendTarget;
  readonly filters: readonly F[];
}

/** A rule's distribution, read from the proxy API. */
export type Distribution<F> =
  /** Requests fail: the rule has no backend. */
  | { readonly kind: 'empty' }
  | { readonly kind: 'firstAvailable'; readonly backends: readonly RouteBackend<F>[] }
  | { readonly kind: 'randomAvailable'; readonly backends: readonly { readonly backend: RouteBackend<F>; readonly weight: number }[] };

interface ProtoRouteBackend<F> {
  backend?: Parameters<typeof toBackendTarget>[0];
  filters: F[];
}

interface ProtoDistribution<F> {
  kind?:
    | { $case: 'empty'; empty: object }
    | { $case: 'firstAvailable'; firstAvailable: { backends: ProtoRouteBackend<F>[] } }
    | { $case: 'randomAvailable'; randomAvailable: { backends: { backend?: ProtoRouteBackend<F> | undefined; weight: number }[] } }
    | undefined;
}

const toRouteBackend = <F>(b: ProtoRouteBackend<F>): RouteBackend<F> => ({ target: toBackendTarget(b.backend), filters: b.filters });

/** Reads a route rule's Distribution (HTTP, gRPC or opaque); unset is empty. */
export function toDistribution<F>(d: ProtoDistribution<F> | undefined): Distribution<F> {
  switch (d?.kind?.$case) {
    case undefined:
    case 'empty':
      return { kind: 'empty' };
    case 'firstAvailable':
      return { kind: 'firstAvailable', backends: d.kind.firstAvailable.backends.map(toRouteBackend) };
    case 'randomAvailable':
      return {
        kind: 'randomAvailable',
        backends: d.kind.randomAvailable.backends.flatMap((w) => (w.backend ? [{ backend: toRouteBackend(w.backend), weight: w.weight }] : [])),
      };
  }
}

/** Why no backend could be chosen. */
export interface NoBackend {
  readonly kind: 'noBackend';
  readonly reason: string;
}

/**
 * Index of a weighted random choice: each item with weight w > 0 is chosen
 * with probability w / Σw for a uniform draw `random` in [0, 1). Items of
 * weight 0 (or less, or not finite) are never chosen; undefined when no
 * item has weight.
 */
export function weightedIndex(weights: readonly number[], random: number): number | undefined {
  let total = 0;
  for (const w of weights) if (w > 0 && Number.isFinite(w)) total += w;
  if (total === 0) return undefined;
  let point = random * total;
  let last: number | undefined;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w > 0 && Number.isFinite(w))) continue;
    last = i;
    if (point < w) return i;
    point -= w;
  }
  return last; // rounding at the top end
}

/**
 * The backend for one request. `isAvailable` says whether a backend can take
 * the request now (a balancer with a ready endpoint); firstAvailable takes
 * the first available one, randomAvailable draws by weight among the
 * available ones. When none is available the choice is made as if all were,
 * so that the request waits in that backend's queue instead of failing here.
 */
export function chooseBackend<F>(d: Distribution<F>, random: () => number, isAvailable: (b: RouteBackend<F>) => boolean = () => true): RouteBackend<F> | NoBackend {
  switch (d.kind) {
    case 'empty':
      return { kind: 'noBackend', reason: 'route rule has no backends' };
    case 'firstAvailable':
      return d.backends.find(isAvailable) ?? d.backends[0] ?? { kind: 'noBackend', reason: 'route rule has no backends' };
    case 'randomAvailable': {
      const weighted = d.backends.filter((b) => b.weight > 0);
      if (weighted.length === 0) return { kind: 'noBackend', reason: d.backends.length === 0 ? 'route rule has no backends' : 'every backend has weight 0' };
      const available = weighted.filter((b) => isAvailable(b.backend));
      const pool = available.length > 0 ? available : weighted;
      return pool[weightedIndex(pool.map((b) => b.weight), random())!]!.backend;
    }
  }
}
