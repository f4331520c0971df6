/* Generated from bus-schemas/schemas/state-deleted.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * Tombstone: the state kept under this subject no longer exists.
 */
export interface StateDeleted {
  /**
   * Why the state went away, for people (e.g. 'service removed', 'heartbeat expired').
   */
  reason: string;
}
