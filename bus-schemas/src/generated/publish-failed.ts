/* Generated from bus-schemas/schemas/publish-failed.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A writer could not store the state of one key; it retries that key with backoff while every other key keeps being published.
 */
export interface PublishFailed {
  /**
   * The NATS subject that could not be written.
   */
  subject: string;
  /**
   * Catalogue kind of the event that failed, e.g. endpointSet.
   */
  kind: string;
  /**
   * The error, as the bus or the schema check gave it.
   */
  reason: string;
  /**
   * Failed attempts in a row.
   */
  attempts: number;
  /**
   * When the first of these failures happened.
   */
  since: string;
}
