/* Generated from bus-schemas/schemas/issuer-updated.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * An identity replica loaded an issuer certificate and key (at start or after a rotation) and signs with it from now on.
 */
export interface IssuerUpdated {
  /**
   * The issuer's subject distinguished name, e.g. CN=identity.meshbus.cluster.local.
   */
  subject: string;
  /**
   * The issuer's serial number, lowercase hex.
   */
  serial: string;
  notBefore?: string;
  /**
   * When the issuer expires: a new one must be installed before.
   */
  notAfter: string;
  /**
   * Id of the identity replica that loaded it.
   */
  replica: string;
  /**
   * Where the issuer was read from, e.g. dir:/etc/meshbus/identity or secret:meshbus/meshbus-identity-issuer.
   */
  source: string;
  /**
   * Serial number of the issuer it replaces; absent on the replica's first load.
   */
  previousSerial?: string;
}
