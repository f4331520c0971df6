/* Generated from bus-schemas/schemas/mirrored-service.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A service of a linked cluster as this cluster sees it, written by this cluster's multicluster leader: destination serves it as the service <service>.<namespace> whose endpoints are the linked cluster's gateway, and policy routes to it like any service. Published as state: the newest message is the truth.
 */
export interface MirroredService {
  namespace: string;
  /**
   * The local name: <remoteService>-<cluster>.
   */
  service: string;
  cluster: string;
  remoteService: string;
  /**
   * @minItems 1
   * @maxItems 100
   */
  ports: [
    {
      port: number;
      name?: string;
      opaque?: boolean;
      /**
       * Ready endpoints of the port in the linked cluster; 0 while the link is quiet.
       */
      ready: number;
    },
    ...{
      port: number;
      name?: string;
      opaque?: boolean;
      /**
       * Ready endpoints of the port in the linked cluster; 0 while the link is quiet.
       */
      ready: number;
    }[]
  ];
  gateway: {
    identity: string;
    /**
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
  };
  /**
   * @maxItems 64
   */
  identities: string[];
  /**
   * The link is live (heartbeats arrive) and some port has ready endpoints.
   */
  ready: boolean;
  /**
   * Why the service is not ready, for people.
   */
  reason?: string;
}
