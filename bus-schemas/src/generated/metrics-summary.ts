/* Generated from bus-schemas/schemas/metrics-summary.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The traffic of one proxy during one interval, as counts and fixed latency buckets, so that summaries of many proxies and intervals add up. Published by a gateway for the workload identity the proxy proved with its mesh certificate.
 */
export interface MetricsSummary {
  /**
   * Namespace of the proven identity.
   */
  namespace: string;
  /**
   * Service account of the proven identity: the workload the summary is for.
   */
  workload: string;
  /**
   * The mesh identity the proxy's certificate names.
   */
  identity: string;
  /**
   * The pod or host the proxy says it runs beside; informative, not proven.
   */
  instance: string;
  /**
   * Start of the interval (the proxy's clock).
   */
  intervalStart: string;
  /**
   * Length of the interval in milliseconds.
   */
  intervalMs: number;
  /**
   * Upper bounds (inclusive, milliseconds, increasing) of the latency buckets; every request row has one count per bound and one for larger latencies.
   *
   * @minItems 1
   * @maxItems 64
   */
  latencyBoundsMs: [number, ...number[]];
  /**
   * Requests that ended during the interval, by direction, authority, route, status class and TLS.
   *
   * @maxItems 1000
   */
  requests: {
    direction: 'inbound' | 'outbound';
    /**
     * Service authority, empty when unknown.
     */
    authority: string;
    /**
     * Route name, empty when none matched.
     */
    route: string;
    /**
     * Hundreds of the HTTP status (2 for 2xx); 0 when no response arrived.
     */
    statusClass: number;
    /**
     * Whether the requests travelled over mesh TLS.
     */
    tls: boolean;
    success: number;
    failure: number;
    /**
     * Counts per latency bucket, not cumulative; see latencyBoundsMs.
     *
     * @maxItems 65
     */
    latency: number[];
  }[];
  /**
   * Transport connections by direction and authority.
   *
   * @maxItems 500
   */
  tcp: {
    direction: 'inbound' | 'outbound';
    authority: string;
    opened: number;
    closed: number;
    open: number;
    readBytes: number;
    writeBytes: number;
  }[];
}
