/* Generated from bus-schemas/schemas/certify-response.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * An identity replica's answer to a CertifyRequest: the signed leaf with its chain, or an error with the gRPC status the gateway returns.
 */
export type CertifyResponse =
  | {
      /**
       * Base64 of the leaf certificate (DER).
       */
      certificate: string;
      /**
       * Base64 DER of the issuer chain, leaf's issuer first, anchor excluded.
       *
       * @maxItems 10
       */
      intermediates: string[];
      validUntil: string;
      serial: string;
    }
  | {
      error: {
        grpcCode: number;
        code: string;
        message: string;
      };
    };
