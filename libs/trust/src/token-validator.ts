import { MeshbusError } from '@meshbus/core';

/** The Kubernetes service account a caller proved it runs as. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * Authenticates the proof of identity a proxy sends with its CSR (a projected service-account
 * token in a cluster, a workload token in local mode). Rejects with {@link TokenRejectedError}
 * (or a `WorkloadTokenError`) when the token does not authenticate anyone, and with
 * {@link TokenReviewUnavailableError} when the answer could not be obtained.
 */
export interface TokenValidator {
  validate(token: Uint8Array): Promise<ServiceAccountRef>;
}

/** The token does not authenticate a service account. Answered with UNAUTHENTICATED. */
export class TokenRejectedError extends MeshbusError {
  override name = 'TokenRejectedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TokenRejected', message, options);
  }
}

/** The authority that checks tokens could not be asked (API server unreachable, RBAC). Answered with UNAVAILABLE. */
export class TokenReviewUnavailableError extends MeshbusError {
  override name = 'TokenReviewUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TokenReviewUnavailable', message, options);
  }
}
