/* Generated from bus-schemas/schemas/endpoint-set.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The full current set of ready endpoints of one service port. Published as state: the newest message per subject is the truth.
 */
export interface EndpointSet {
  namespace: string;
  service: string;
  /**
   * The service port clients connect to.
   */
  port: number;
  /**
   * Name of the service port, when it has one.
   */
  portName?: string;
  /**
   * The port carries opaque TCP: proxies must not detect a protocol.
   */
  opaque?: boolean;
  /**
   * Metric labels that apply to every endpoint of the set.
   */
  labels?: {
    [k: string]: string;
  };
  /**
   * @maxItems 100000
   */
  endpoints: Endpoint[];
}
export interface Endpoint {
  /**
   * IPv4 or IPv6 address.
   */
  address: string;
  /**
   * Port on the workload (the service's target port).
   */
  port: number;
  /**
   * Relative load-balancing weight (uint32 of the proxy API); 10000 is the default.
   */
  weight: number;
  /**
   * Metric labels of this endpoint (workload, service account, zone...).
   */
  labels?: {
    [k: string]: string;
  };
  /**
   * TLS identity the proxy presents: <sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>. Absent for workloads outside the mesh.
   */
  identity?: string;
  /**
   * TLS server name to use when it differs from the identity.
   */
  serverName?: string;
  /**
   * h2: the peer proxy accepts HTTP/2 upgraded traffic; opaque: forward raw TCP over the proxy's inbound port.
   */
  protocolHint?: 'unknown' | 'h2' | 'opaque';
  /**
   * The peer proxy's inbound port, for opaque traffic.
   */
  opaqueTransportPort?: number;
  /**
   * Topology zone: a Kubernetes label value (at most 63 characters).
   */
  zone?: string;
  /**
   * Topology hints: the zones this endpoint should serve (EndpointSlice hints.forZones).
   *
   * @maxItems 64
   */
  forZones?: string[];
  workload?: {
    kind: string;
    namespace: string;
    name: string;
  };
  /**
   * Set on the endpoints of a service mirrored from a linked cluster: address and port are that cluster's multicluster gateway, identity is one of the remote workloads'. The proxy opens mesh TLS to the gateway (which must present the gateway identity below), asks it for the authority, and runs its own mesh TLS with the remote workload inside that tunnel.
   */
  gateway?: {
    /**
     * Name of the linked cluster the service lives in.
     */
    cluster: string;
    /**
     * TLS identity of the linked cluster's multicluster gateway.
     */
    identity: string;
    /**
     * host:port of the service in the linked cluster, as its gateway resolves it: <service>.<namespace>.svc.<cluster-domain>:<port>.
     */
    authority: string;
    /**
     * Every identity the remote service's workloads present. The gateway names the one of the workload it chose in its answer to CONNECT (Meshbus-Target-Identity); the proxy accepts only one of these. Absent: only the endpoint's identity.
     *
     * @maxItems 64
     */
    identities?: string[];
  };
}
