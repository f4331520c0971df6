import { describe, expect, it } from 'vitest';
import { DerError, X509Error } from '@meshbus/x509';
import { GrpcStatus, grpcStatusFor } from './grpc-status.js';
import { IdentityError, IdentityErrorCode } from './identity-error.js';
import { WorkloadTokenError } from './workload-token.js';

describe('grpcStatusFor', () => {
  it.each([
    ['MalformedRequest', 3],
    ['MalformedCsr', 3],
    ['CsrSignatureInvalid', 3],
    ['CsrKeyUnsupported', 3],
    ['CsrForbiddenSan', 3],
    ['InvalidIdentityName', 3],
    ['CsrSanMismatch', 9],
    ['CsrSubjectMismatch', 9],
    ['IdentityMismatch', 7],
    ['NoIssuer', 14],
    ['IssuerExpired', 14],
    ['IssuerNotTrusted', 14],
  ] as const)('maps %s to %i', (code, status) => {
    expect(grpcStatusFor(new IdentityError(code, 'x'))).toBe(status);
  });

  it('maps every identity error code to a status', () => {
    for (const code of Object.values(IdentityErrorCode)) {
      expect(Object.values(GrpcStatus)).toContain(grpcStatusFor(new IdentityError(code, 'x')));
    }
  });

  it('maps token errors to UNAUTHENTICATED, X.509 errors to INVALID_ARGUMENT and anything else to INTERNAL', () => {
    expect(grpcStatusFor(new WorkloadTokenError('TokenExpired', 'x'))).toBe(16);
    expect(grpcStatusFor(new X509Error('MalformedCsr', 'x'))).toBe(3);
    expect(grpcStatusFor(new DerError('Truncated', 'x'))).toBe(3);
    expect(grpcStatusFor(new Error('boom'))).toBe(13);
    expect(grpcStatusFor('boom')).toBe(13);
  });
});
