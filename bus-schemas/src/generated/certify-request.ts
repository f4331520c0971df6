/* Generated from bus-schemas/schemas/certify-request.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A proxy's certificate signing request, forwarded by a gateway to any identity replica (NATS request/reply, queue group meshbus-identity). Not stored.
 */
export interface CertifyRequest {
  /**
   * The identity the proxy asks for.
   */
  identity: string;
  /**
   * Base64 of the proof of identity as sent by the proxy (service-account token or workload token).
   */
  token: string;
  /**
   * Base64 of the PKCS#10 CSR (DER).
   */
  csr: string;
}
