import type { CertifyRequest, CertifyResponse } from '@meshbus/bus-schemas';
import { errorMessage } from '@meshbus/runtime';
import type { CertificateAuthority, IssuedCertificate } from '@meshbus/trust';
import { GrpcStatus, grpcStatusFor } from '@meshbus/trust';
import { assertEntitledIdentity, IdentityError, IdentityErrorCode } from '@meshbus/trust';
import { identityName } from '@meshbus/core';
import type { IdentityMetrics } from './identity-metrics.js';
import { TokenRejectedError, TokenReviewUnavailableError, type TokenValidator } from '@meshbus/trust';

/** Options of {@link CertifyHandler}. */
export interface CertifyHandlerOptions {
  readonly tokenValidator: TokenValidator;
  /** The issuer to sign with right now, if any. */
  readonly issuer: () => CertificateAuthority | undefined;
  readonly controlNamespace: string;
  readonly trustDomain: string;
  /** @default 24 hours */
  readonly lifetimeMs?: number;
  /** @default 20 seconds */
  readonly clockSkewMs?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly metrics?: Pick<IdentityMetrics, 'signingSeconds'>;
}

/** Why a request was refused, as sent back to the gateway. */
export interface CertifyFailure {
  readonly grpcCode: number;
  /** Stable error code (an IdentityErrorCode, a token error code...). */
  readonly code: string;
  readonly message: string;
}

/** The result of one certificate request. */
export type CertifyOutcome =
  | { readonly ok: true; readonly identity: string; readonly issued: IssuedCertificate; readonly issuer: CertificateAuthority; readonly response: CertifyResponse }
  | { readonly ok: false; readonly failure: CertifyFailure; readonly cause: unknown; readonly response: CertifyResponse };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(value: string, what: string): Uint8Array {
  if (!BASE64.test(value)) throw new IdentityError(IdentityErrorCode.MalformedRequest, `${what} is not base64`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === 0) throw new IdentityError(IdentityErrorCode.MalformedRequest, `${what} is empty`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The gRPC status a proxy gets for an error raised while answering a request. */
export function certifyStatusFor(error: unknown): number {
  if (error instanceof TokenRejectedError) return GrpcStatus.UNAUTHENTICATED;
  if (error instanceof TokenReviewUnavailableError) return GrpcStatus.UNAVAILABLE;
  return grpcStatusFor(error);
}

/** The refusal sent for `error`; internal errors are not described to callers. */
export function certifyFailureFor(error: unknown): CertifyFailure {
  const grpcCode = certifyStatusFor(error);
  if (grpcCode === GrpcStatus.INTERNAL) {
    return { grpcCode, code: 'Internal', message: 'internal error in the identity service; see its logs' };
  }
  const code = (error as { code?: unknown }).code;
  return { grpcCode, code: typeof code === 'string' ? code : 'Internal', message: errorMessage(error) };
}

/**
 * Answers one certificate request, with no transport: checks that there is an issuer,
 * authenticates the token, checks that the requested identity is the caller's, then has the
 * issuer check the CSR and sign. Never throws: every error becomes a refusal with its gRPC code.
 */
export class CertifyHandler {
  private readonly now: () => Date;

  constructor(private readonly options: CertifyHandlerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  async certify(request: CertifyRequest): Promise<CertifyOutcome> {
    try {
      const csrDer = decodeBase64(request.csr, 'csr');
      const token = decodeBase64(request.token, 'token');
      const issuer = this.options.issuer();
      if (!issuer) throw new IdentityError(IdentityErrorCode.NoIssuer, 'this identity replica has no valid issuer loaded');
      const caller = await this.options.tokenValidator.validate(token);
      const entitledIdentity = identityName({
        serviceAccount: caller.serviceAccount,
        namespace: caller.namespace,
        controlNamespace: this.options.controlNamespace,
        trustDomain: this.options.trustDomain,
      });
      assertEntitledIdentity({ requestedIdentity: request.identity, entitledIdentity });
      const stopTimer = this.options.metrics?.signingSeconds.startTimer();
      let issued: IssuedCertificate;
      try {
        issued = await issuer.issue({
          identity: entitledIdentity,
          csrDer,
          now: this.now(),
          ...(this.options.lifetimeMs === undefined ? {} : { lifetimeMs: this.options.lifetimeMs }),
          ...(this.options.clockSkewMs === undefined ? {} : { clockSkewMs: this.options.clockSkewMs }),
        });
      } finally {
        stopTimer?.();
      }
      return {
        ok: true,
        identity: entitledIdentity,
        issued,
        issuer,
        response: {
          certificate: Buffer.from(issued.leafDer).toString('base64'),
          intermediates: issued.intermediatesDer.map((der) => Buffer.from(der).toString('base64')),
          validUntil: issued.validUntil.toISOString(),
          serial: issued.serial,
        },
      };
    } catch (error) {
      const failure = certifyFailureFor(error);
      return { ok: false, failure, cause: error, response: { error: { ...failure } } };
    }
  }
}
