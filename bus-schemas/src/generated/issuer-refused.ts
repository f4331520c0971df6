/* Generated from bus-schemas/schemas/issuer-refused.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * An identity replica read new trust material and refused it (unreadable, not a CA, not chaining to the trust anchors, expired...). The previous issuer, if any, keeps serving.
 */
export interface IssuerRefused {
  /**
   * What is wrong and what to fix, for people.
   */
  reason: string;
  /**
   * Stable code of the refusal, e.g. IssuerNotTrusted, IssuerKeyMismatch, IssuerUnreadable.
   */
  code?: string;
  /**
   * Where the material was read from, e.g. dir:/etc/meshbus/identity or secret:meshbus/meshbus-identity-issuer.
   */
  source: string;
  /**
   * Id of the identity replica that refused it.
   */
  replica: string;
}
