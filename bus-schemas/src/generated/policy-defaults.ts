/* Generated from bus-schemas/schemas/policy-defaults.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The cluster's policy settings, so that a workload or port the policy service has said nothing about gets the default policy in force: the cluster default, overridden per namespace. Published as state by the policy leader.
 */
export interface PolicyDefaults {
  defaultPolicy:
    | 'all-unauthenticated'
    | 'all-authenticated'
    | 'cluster-unauthenticated'
    | 'cluster-authenticated'
    | 'deny'
    | 'audit';
  /**
   * @maxItems 64
   *
   * Items: An IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8.
   */
  clusterNetworks: string[];
  /**
   * @maxItems 64
   *
   * Items: An IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8.
   */
  probeNetworks: string[];
  /**
   * Milliseconds.
   */
  detectTimeoutMs: number;
  /**
   * The suffix of every mesh identity: identity.<control-namespace>.<trust-domain>.
   */
  identityDomain: string;
  /**
   * @maxItems 10000
   */
  namespaces: NamespacePolicyDefault[];
}
export interface NamespacePolicyDefault {
  namespace: string;
  defaultPolicy:
    | 'all-unauthenticated'
    | 'all-authenticated'
    | 'cluster-unauthenticated'
    | 'cluster-authenticated'
    | 'deny'
    | 'audit';
}
