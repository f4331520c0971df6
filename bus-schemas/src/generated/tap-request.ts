/* Generated from bus-schemas/schemas/tap-request.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * An operator asks the proxies of one workload for live request metadata (`meshbus tap`). Every gateway replica forwards it to the proxies connected to it whose proven identity is that workload. The requester sends it again every few seconds to keep the session going; a session nobody renews ends at its expiry.
 */
export interface TapRequest {
  /**
   * Chosen by the requester, unique; also the last token of the subject the records are published on.
   */
  sessionId: string;
  /**
   * start: begin or renew the session; stop: end it now.
   */
  action: 'start' | 'stop';
  /**
   * Namespace of the tapped workload; the same as the subject's.
   */
  namespace: string;
  /**
   * Service account of the tapped workload; the same as the subject's.
   */
  workload: string;
  /**
   * Which requests to record; an absent field matches every request.
   */
  filter: {
    /**
     * Path prefix.
     */
    path?: string;
    /**
     * HTTP method, exact.
     */
    method?: string;
    /**
     * Authority, the whole of it, compared without regard to case.
     */
    authority?: string;
  };
  /**
   * Records per second per proxy, at most; the proxy drops the rest.
   */
  maxRps: number;
  /**
   * The session ends this long after the request unless renewed.
   */
  expiresInMs: number;
}
