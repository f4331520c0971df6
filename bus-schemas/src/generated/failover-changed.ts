/* Generated from bus-schemas/schemas/failover-changed.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A rule of a route with a failover annotation failed over from its primary backend (which has no ready endpoint) to the other backends, or returned to its declared weights, in the outbound policy of one service port.
 */
export interface FailoverChanged {
  /**
   * The route's namespace.
   */
  namespace: string;
  kind: 'HTTPRoute' | 'GRPCRoute';
  route: string;
  /**
   * The rule, counted from 1.
   */
  rule: number;
  /**
   * The parent service's namespace.
   */
  serviceNamespace?: string;
  /**
   * The parent service whose outbound policy the rule is part of.
   */
  service: string;
  port: number;
  primary: string;
  /**
   * True while the primary is taken out; false when the declared weights apply again.
   */
  failedOver: boolean;
  /**
   * The rule's backends with their weights now.
   *
   * @maxItems 100
   */
  backends: {
    namespace?: string;
    name: string;
    port?: number;
    weight: number;
  }[];
}
