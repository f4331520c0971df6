import { MeshbusError } from '@meshbus/core';

/** Stable codes of {@link IdentityError}. */
export const IdentityErrorCode = {
  // A certificate request that cannot be served as sent.
  /** The request itself is invalid: identity not a DNS name, bad lifetime or skew. */
  MalformedRequest: 'MalformedRequest',
  /** The CSR is not a well-formed DER PKCS#10 request. */
  MalformedCsr: 'MalformedCsr',
  /** The CSR's signature does not verify, or uses an algorithm other than ecdsa-with-SHA256. */
  CsrSignatureInvalid: 'CsrSignatureInvalid',
  /** The CSR's key is not ECDSA P-256. */
  CsrKeyUnsupported: 'CsrKeyUnsupported',
  /** The CSR's subjectAltName is not exactly one dNSName equal to the requested identity. */
  CsrSanMismatch: 'CsrSanMismatch',
  /** The CSR asks for an IP address, email, URI or other non-DNS subjectAltName. */
  CsrForbiddenSan: 'CsrForbiddenSan',
  /** The CSR's subject commonName is neither absent nor the requested identity. */
  CsrSubjectMismatch: 'CsrSubjectMismatch',
  /** The caller asks for an identity other than the one its credentials entitle it to. */
  IdentityMismatch: 'IdentityMismatch',
  /** A service account, namespace, control namespace or trust domain is not a valid DNS-1123 name. */
  InvalidIdentityName: 'InvalidIdentityName',
  // The certificate authority cannot sign.
  /** No valid issuer is loaded. */
  NoIssuer: 'NoIssuer',
  /** The trust anchors PEM holds no certificate, or one that does not parse. */
  MalformedTrustAnchors: 'MalformedTrustAnchors',
  /** The issuer certificate chain or key PEM does not parse. */
  MalformedIssuer: 'MalformedIssuer',
  /** The issuer's key is not ECDSA P-256. */
  UnsupportedIssuerKey: 'UnsupportedIssuerKey',
  /** The issuer private key does not belong to the issuer certificate. */
  IssuerKeyMismatch: 'IssuerKeyMismatch',
  /** The issuer (or an intermediate) is not a CA allowed to sign certificates. */
  IssuerNotCa: 'IssuerNotCa',
  /** The issuer chain does not lead to any trust anchor. */
  IssuerNotTrusted: 'IssuerNotTrusted',
  /** The issuer, an intermediate or the anchor it chains to has expired. */
  IssuerExpired: 'IssuerExpired',
  /** The issuer, an intermediate or the anchor it chains to is not valid yet. */
  IssuerNotYetValid: 'IssuerNotYetValid',
} as const;
export type IdentityErrorCode = (typeof IdentityErrorCode)[keyof typeof IdentityErrorCode];

/** A refusal by the identity core; the message says what to change. */
export class IdentityError extends MeshbusError {
  override readonly name = 'IdentityError';
  declare readonly code: IdentityErrorCode;

  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Throws {@link IdentityError} `IdentityMismatch` unless a caller asks for the identity its
 * credentials entitle it to (from a TokenReview or a workload token).
 */
export function assertEntitledIdentity(check: { readonly requestedIdentity: string; readonly entitledIdentity: string }): void {
  if (check.requestedIdentity !== check.entitledIdentity) {
    throw new IdentityError(
      IdentityErrorCode.IdentityMismatch,
      `requested identity ${check.requestedIdentity} is not the caller's identity ${check.entitledIdentity}`,
    );
  }
}
