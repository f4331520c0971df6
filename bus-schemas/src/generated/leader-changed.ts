/* Generated from bus-schemas/schemas/leader-changed.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A replica became the single writer of a role (for example the destination publisher).
 */
export interface LeaderChanged {
  /**
   * What the leader writes, e.g. destination.
   */
  role: string;
  /**
   * Replica id of the new leader.
   */
  holder: string;
  /**
   * Lease revision; grows with every change of leader.
   */
  term: number;
}
