/* Generated from bus-schemas/schemas/link-changed.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The link to a linked cluster changed health, as this cluster's multicluster leader sees it: live (heartbeats arrive), quiet (they stopped; its mirrors are not ready), gone (past the grace period; its mirrors are removed) or refused (another trust domain, or a heartbeat naming another cluster).
 */
export interface LinkChanged {
  cluster: string;
  health: 'live' | 'quiet' | 'gone' | 'refused';
  /**
   * The health before; unknown for the first observation of a leader.
   */
  previous: 'live' | 'quiet' | 'gone' | 'refused' | 'unknown';
  /**
   * Services mirrored from the cluster now.
   */
  mirrored: number;
  /**
   * Time since the last heartbeat, when one ever arrived.
   */
  heartbeatAgeMs?: number;
  reason?: string;
}
