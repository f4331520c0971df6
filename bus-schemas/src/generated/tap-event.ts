/* Generated from bus-schemas/schemas/tap-event.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * One request a tapped proxy saw: metadata only, never bodies, and only the headers of the proxy's allowlist. Published by the gateway the proxy is connected to, under the identity the proxy proved with its mesh certificate; best effort (core NATS, at most once).
 */
export interface TapEvent {
  /**
   * The tap session the request matched.
   */
  sessionId: string;
  /**
   * Namespace of the proven identity.
   */
  namespace: string;
  /**
   * Service account of the proven identity.
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
   * When the request started (the proxy's clock).
   */
  startedAt: string;
  /**
   * inbound: a request arriving for the workload; outbound: one it sent.
   */
  direction: 'inbound' | 'outbound';
  method: string;
  authority: string;
  path: string;
  /**
   * HTTP status; 0 when no response arrived.
   */
  status: number;
  /**
   * From the start of the request to the end of the response.
   */
  latencyMs: number;
  /**
   * Whether the request travelled over mesh TLS.
   */
  tls: boolean;
  /**
   * Mesh identity of the peer; empty when unknown or not meshed.
   */
  peerIdentity: string;
  /**
   * Allowlisted headers, lowercased names.
   */
  headers: {
    [k: string]: string;
  };
}
