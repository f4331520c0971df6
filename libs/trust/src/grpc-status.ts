import { IdentityNameError } from '@meshbus/core';
import { IdentityError, type IdentityErrorCode } from './identity-error.js';
import { WorkloadTokenError } from './workload-token.js';
import { DerError, X509Error } from '@meshbus/x509';

/** The gRPC status codes the identity service answers with (numbers from the gRPC spec). */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const STATUS_BY_CODE: Record<IdentityErrorCode, GrpcStatus> = {
  MalformedRequest: GrpcStatus.INVALID_ARGUMENT,
  MalformedCsr: GrpcStatus.INVALID_ARGUMENT,
  CsrSignatureInvalid: GrpcStatus.INVALID_ARGUMENT,
  CsrKeyUnsupported: GrpcStatus.INVALID_ARGUMENT,
  CsrForbiddenSan: GrpcStatus.INVALID_ARGUMENT,
  InvalidIdentityName: GrpcStatus.INVALID_ARGUMENT,
  // The CSR is well formed but does not match the request it came with.
  CsrSanMismatch: GrpcStatus.FAILED_PRECONDITION,
  CsrSubjectMismatch: GrpcStatus.FAILED_PRECONDITION,
  // The caller is authenticated, but not as the identity it asks for.
  IdentityMismatch: GrpcStatus.PERMISSION_DENIED,
  // Issuer problems are the service's, not the caller's: another replica or a later retry may serve it.
  NoIssuer: GrpcStatus.UNAVAILABLE,
  MalformedTrustAnchors: GrpcStatus.UNAVAILABLE,
  MalformedIssuer: GrpcStatus.UNAVAILABLE,
  UnsupportedIssuerKey: GrpcStatus.UNAVAILABLE,
  IssuerKeyMismatch: GrpcStatus.UNAVAILABLE,
  IssuerNotCa: GrpcStatus.UNAVAILABLE,
  IssuerNotTrusted: GrpcStatus.UNAVAILABLE,
  IssuerExpired: GrpcStatus.UNAVAILABLE,
  IssuerNotYetValid: GrpcStatus.UNAVAILABLE,
};

/**
 * The gRPC status code for an error thrown by the identity core: by {@link IdentityError} code;
 * INVALID_ARGUMENT for an {@link IdentityNameError}; UNAUTHENTICATED for any {@link WorkloadTokenError}; INVALID_ARGUMENT for malformed X.509 input;
 * INTERNAL for anything else.
 */
export function grpcStatusFor(error: unknown): GrpcStatus {
  if (error instanceof IdentityError) return STATUS_BY_CODE[error.code];
  if (error instanceof IdentityNameError) return GrpcStatus.INVALID_ARGUMENT;
  if (error instanceof WorkloadTokenError) return GrpcStatus.UNAUTHENTICATED;
  if (error instanceof X509Error || error instanceof DerError) return GrpcStatus.INVALID_ARGUMENT;
  return GrpcStatus.INTERNAL;
}
