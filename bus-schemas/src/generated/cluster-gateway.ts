/* Generated from bus-schemas/schemas/cluster-gateway.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * Heartbeat of a cluster's multicluster gateway, published by its multicluster leader at a fixed interval on the exports stream: where linked clusters reach the gateway and the identity it presents. A linked cluster that stops receiving it marks the cluster's mirrored services not ready, then removes them after its grace period.
 */
export interface ClusterGateway {
  cluster: string;
  trustDomain: string;
  /**
   * TLS identity of the multicluster gateway.
   */
  identity: string;
  /**
   * Where linked clusters reach the gateway.
   *
   * @minItems 1
   * @maxItems 16
   */
  addresses: [
    {
      address: (string | string) & string;
      port: number;
    },
    ...{
      address: (string | string) & string;
      port: number;
    }[]
  ];
  /**
   * How often the heartbeat is sent.
   */
  intervalMs: number;
}
