import { sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Base64Error, decodeBase64Url, encodeBase64Url, isDnsLabel, MeshbusError } from '@meshbus/core';

/** Stable codes of {@link WorkloadTokenError}. */
export const WorkloadTokenErrorCode = {
  /** Not a compact JWS with a JSON header and the claims this service writes. */
  MalformedToken: 'MalformedToken',
  /** The signature does not verify with the given key, or was made for another key type. */
  TokenSignatureInvalid: 'TokenSignatureInvalid',
  /** The token's `exp` is at or before now. */
  TokenExpired: 'TokenExpired',
  /** The token is not meant for this audience. */
  TokenAudienceMismatch: 'TokenAudienceMismatch',
  /** Claims passed to {@link createWorkloadToken} are invalid. */
  InvalidClaims: 'InvalidClaims',
} as const;
export type WorkloadTokenErrorCode = (typeof WorkloadTokenErrorCode)[keyof typeof WorkloadTokenErrorCode];

/** A workload token that cannot be created or is refused; `code` says why. */
export class WorkloadTokenError extends MeshbusError {
  override readonly name = 'WorkloadTokenError';
  declare readonly code: WorkloadTokenErrorCode;

  constructor(code: WorkloadTokenErrorCode, message: string) {
    super(code, message);
  }
}

/** What a local-mode workload token asserts. */
export interface WorkloadTokenClaims {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly expiresAt: Date;
  /** Who the token is for, such as `identity.meshbus`. */
  readonly audience: string;
}

/** The workload a verified token speaks for. */
export interface WorkloadTokenSubject {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Options of {@link verifyWorkloadToken}. */
export interface WorkloadTokenVerifyOptions {
  /** The audience this verifier accepts; the token's `aud` must be it or contain it. */
  readonly audience: string;
  /** @default new Date() */
  readonly now?: Date;
}

type JwsAlgorithm = 'ES256' | 'EdDSA';

// The subject is written the way Kubernetes names service accounts in tokens.
const SUBJECT_PREFIX = 'system:serviceaccount:';
// The largest time a Date holds (ECMAScript: 8.64e15 ms from the epoch), in seconds.
const MAX_EXP_SECONDS = 8.64e12;

function algorithmFor(key: KeyObject): JwsAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function encodeSegment(value: object): string {
  return encodeBase64Url(JSON.stringify(value));
}

function malformed(message: string): WorkloadTokenError {
  return new WorkloadTokenError(WorkloadTokenErrorCode.MalformedToken, message);
}

function decodeBase64url(segment: string, what: string): Buffer {
  try {
    return decodeBase64Url(segment, `token ${what}`);
  } catch (err) {
    if (err instanceof Base64Error) throw malformed(err.message);
    throw err;
  }
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeBase64url(segment, what).toString('utf8'));
  } catch (error) {
    if (error instanceof WorkloadTokenError) throw error;
    throw malformed(`token ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`token ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * A compact JWS (JWT) for local mode, signed with an ECDSA P-256 (ES256) or Ed25519 (EdDSA) key.
 * Claims: `sub` = `system:serviceaccount:<namespace>:<serviceAccount>`, `aud`, `exp` (seconds).
 */
export function createWorkloadToken(claims: WorkloadTokenClaims, privateKey: KeyObject): string {
  const alg = algorithmFor(privateKey);
  if (alg === undefined || privateKey.type !== 'private') {
    throw new WorkloadTokenError(WorkloadTokenErrorCode.InvalidClaims, 'workload tokens are signed with a P-256 or Ed25519 private key');
  }
  if (!isDnsLabel(claims.namespace) || !isDnsLabel(claims.serviceAccount)) {
    throw new WorkloadTokenError(WorkloadTokenErrorCode.InvalidClaims, 'namespace and service account must be DNS-1123 labels');
  }
  const exp = Math.floor(claims.expiresAt.getTime() / 1000);
  if (!Number.isSafeInteger(exp) || claims.audience === '') {
    throw new WorkloadTokenError(WorkloadTokenErrorCode.InvalidClaims, 'a token needs a valid expiry and a non-empty audience');
  }
  const signingInput = `${encodeSegment({ alg, typ: 'JWT' })}.${encodeSegment({
    sub: `${SUBJECT_PREFIX}${claims.namespace}:${claims.serviceAccount}`,
    aud: claims.audience,
    exp,
  })}`;
  const signature = sign(alg === 'ES256' ? 'sha256' : null, Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${encodeBase64Url(signature)}`;
}

/**
 * Verifies a token made by {@link createWorkloadToken} and returns the workload it names. The
 * signature is checked before any claim is trusted. Throws {@link WorkloadTokenError}.
 */
export function verifyWorkloadToken(token: string, publicKey: KeyObject, options: WorkloadTokenVerifyOptions): WorkloadTokenSubject {
  const segments = token.split('.');
  if (segments.length !== 3) throw malformed('token is not three dot-separated segments');
  const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = segments;
  const header = decodeJsonObject(headerSegment, 'header');
  if (header.alg !== 'ES256' && header.alg !== 'EdDSA') throw malformed(`token algorithm ${JSON.stringify(header.alg)} is not ES256 or EdDSA`);
  if ('crit' in header) throw malformed('token header has critical extensions this verifier does not know');
  const signature = decodeBase64url(signatureSegment, 'signature');

  const expected = algorithmFor(publicKey);
  if (expected !== header.alg) {
    throw new WorkloadTokenError(
      WorkloadTokenErrorCode.TokenSignatureInvalid,
      `token is signed with ${String(header.alg)}, but the verification key is for ${expected ?? 'neither ES256 nor EdDSA'}`,
    );
  }
  let valid: boolean;
  try {
    valid = verify(
      expected === 'ES256' ? 'sha256' : null,
      Buffer.from(`${headerSegment}.${payloadSegment}`),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      signature,
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new WorkloadTokenError(WorkloadTokenErrorCode.TokenSignatureInvalid, 'token signature does not verify');

  const payload = decodeJsonObject(payloadSegment, 'payload');
  const { sub, aud, exp } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw malformed('token has no numeric exp claim');
  if (Math.abs(exp) > MAX_EXP_SECONDS) throw malformed(`token exp ${exp} is outside the range of dates`);
  const now = options.now ?? new Date();
  if (now.getTime() >= exp * 1000) {
    throw new WorkloadTokenError(WorkloadTokenErrorCode.TokenExpired, `token expired at ${new Date(exp * 1000).toISOString()}`);
  }
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.includes(options.audience)) {
    throw new WorkloadTokenError(WorkloadTokenErrorCode.TokenAudienceMismatch, `token is not for audience ${options.audience}`);
  }
  if (typeof sub !== 'string' || !sub.startsWith(SUBJECT_PREFIX)) throw malformed('token subject is not a service account');
  const [namespace = '', serviceAccount = '', ...rest] = sub.slice(SUBJECT_PREFIX.length).split(':');
  if (rest.length > 0 || !isDnsLabel(namespace) || !isDnsLabel(serviceAccount)) {
    throw malformed('token subject is not system:serviceaccount:<namespace>:<name>');
  }
  return { namespace, serviceAccount };
}
