/* Generated from bus-schemas/schemas/service-export.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * Name of a cluster (MESHBUS_CLUSTER_NAME), also its JetStream domain.
 */
export type ClusterName = string;

/**
 * A service this cluster offers to linked clusters: its ports, how many endpoints of each are ready, and the identities those endpoints present. Published by the exporting cluster's multicluster leader on its exports stream whenever it changes; linked clusters receive it over their link and mirror the service. Endpoint addresses never leave the cluster: linked clusters reach the service through its multicluster gateway.
 */
export interface ServiceExport {
  cluster: ClusterName;
  namespace: string;
  service: string;
  /**
   * @minItems 1
   * @maxItems 100
   */
  ports: [
    {
      /**
       * The service port.
       */
      port: number;
      name?: string;
      /**
       * The port carries opaque TCP.
       */
      opaque?: boolean;
      /**
       * Ready endpoints of the port.
       */
      ready: number;
    },
    ...{
      /**
       * The service port.
       */
      port: number;
      name?: string;
      /**
       * The port carries opaque TCP.
       */
      opaque?: boolean;
      /**
       * Ready endpoints of the port.
       */
      ready: number;
    }[]
  ];
  /**
   * TLS identities the ready endpoints present; a caller's inner mesh TLS, tunnelled through the gateway, must end at one of them.
   *
   * @maxItems 64
   */
  identities: string[];
}
