/* Generated from bus-schemas/schemas/trust-bundle.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The trust anchors every mesh certificate chains to, with the trust domain. Published as state: the newest message is the truth.
 */
export interface TrustBundle {
  /**
   * The mesh's trust domain, e.g. cluster.local.
   */
  trustDomain: string;
  /**
   * The trust anchor certificates, one PEM CERTIFICATE block each.
   *
   * @minItems 1
   * @maxItems 100
   */
  anchors: [string, ...string[]];
}
