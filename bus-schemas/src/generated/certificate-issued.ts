/* Generated from bus-schemas/schemas/certificate-issued.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * An identity replica signed a workload leaf certificate. Carries neither the certificate's key nor the caller's token.
 */
export interface CertificateIssued {
  /**
   * The identity certified (the leaf's DNS subjectAltName).
   */
  identity: string;
  /**
   * The leaf's serial number, lowercase hex.
   */
  serial: string;
  /**
   * When the leaf expires.
   */
  notAfter: string;
  /**
   * Id of the identity replica that signed it.
   */
  replica: string;
  /**
   * Serial number of the issuer that signed the leaf, lowercase hex.
   */
  issuerSerial?: string;
}
