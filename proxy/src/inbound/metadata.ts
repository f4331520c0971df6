/*
 * Names of the policy parts a decision came from, as the proxy API's
 * Metadata gives them, and the metric labels the Linkerd proxy derives from
 * them (`srv_*`, `route_*`, `authz_*`: group, kind in lower case, name).
 */
import type { meta } from '@meshbus/proxy-api';

/** The policy resource, or the built-in default, a server, route or authorization came from. */
export interface PolicyRef {
  /** `default` for a built-in default (such as `all-unauthenticated`), else the resource's kind. */
  readonly kind: string;
  /** Empty for a default. */
  readonly group: string;
  /** Empty for a default. */
  readonly namespace: string;
  readonly name: string;
}

/**
 * The ref of a metadata; without metadata (older control planes) the
 * `group`, `kind`, `namespace` and `name` labels, else kind `unknown`.
 */
export function policyRef(metadata: meta.Metadata | undefined, labels: Readonly<Record<string, string>> = {}): PolicyRef {
  const kind = metadata?.kind;
  if (kind?.$case === 'default') return { kind: 'default', group: '', namespace: '', name: kind.default };
  if (kind?.$case === 'resource') return { kind: kind.resource.kind, group: kind.resource.group, namespace: kind.resource.namespace, name: kind.resource.name };
  return { kind: labels.kind ?? 'unknown', group: labels.group ?? '', namespace: labels.namespace ?? '', name: labels.name ?? '' };
}

/** Whether a ref names the built-in default `name`. */
export function isDefault(ref: PolicyRef, name: string): boolean {
  return ref.kind === 'default' && ref.name === name;
}

/** `default audit`, `authorizationpolicy shop/web-reads`: how messages and logs name a ref. */
export function describeRef(ref: PolicyRef): string {
  if (ref.kind === 'default') return `default ${ref.name}`;
  const name = ref.namespace === '' ? ref.name : `${ref.namespace}/${ref.name}`;
  return `${ref.kind.toLowerCase()} ${name}`;
}

/** Metric labels of a ref under a prefix: `{ authz_group, authz_kind, authz_name }` for `authz`. */
export function refLabels<P extends 'srv' | 'route' | 'authz'>(prefix: P, ref: PolicyRef): Record<`${P}_group` | `${P}_kind` | `${P}_name`, string> {
  return { [`${prefix}_group`]: ref.group, [`${prefix}_kind`]: ref.kind.toLowerCase(), [`${prefix}_name`]: ref.name } as Record<`${P}_group` | `${P}_kind` | `${P}_name`, string>;
}
