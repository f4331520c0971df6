import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WorkloadTokenError, createWorkloadToken, verifyWorkloadToken } from './workload-token.js';
import type { WorkloadTokenErrorCode } from './workload-token.js';

const now = new Date(Date.UTC(2031, 0, 1, 12));
const claims = { namespace: 'shop', serviceAccount: 'web', expiresAt: new Date(now.getTime() + 3_600_000), audience: 'identity.meshbus' };
const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed25519 = generateKeyPairSync('ed25519');

function tokenError(run: () => unknown): WorkloadTokenErrorCode {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkloadTokenError);
    expect((error as WorkloadTokenError).name).toBe('WorkloadTokenError');
    return (error as WorkloadTokenError).code;
  }
  throw new Error('expected a WorkloadTokenError');
}

const segments = (token: string) => token.split('.') as [string, string, string];
const json = (segment: string): unknown => JSON.parse(Buffer.from(segment, 'base64url').toString());
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('workload tokens', () => {
  it('round-trips with ES256 and EdDSA keys', () => {
    for (const [keys, alg] of [
      [es256, 'ES256'],
      [ed25519, 'EdDSA'],
    ] as const) {
      const token = createWorkloadToken(claims, keys.privateKey);
      const [header, payload, signature] = segments(token);
      expect(json(header)).toEqual({ alg, typ: 'JWT' });
      expect(json(payload)).toEqual({ sub: 'system:serviceaccount:shop:web', aud: 'identity.meshbus', exp: Math.floor(claims.expiresAt.getTime() / 1000) });
      expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
      expect(verifyWorkloadToken(token, keys.publicKey, { audience: 'identity.meshbus', now })).toEqual({ namespace: 'shop', serviceAccount: 'web' });
    }
  });

  it('refuses an expired token, at and after exp', () => {
    const token = createWorkloadToken(claims, es256.privateKey);
    expect(tokenError(() => verifyWorkloadToken(token, es256.publicKey, { audience: 'identity.meshbus', now: claims.expiresAt }))).toBe('TokenExpired');
    expect(tokenError(() => verifyWorkloadToken(token, es256.publicKey, { audience: 'identity.meshbus', now: new Date(now.getTime() + 86_400_000) }))).toBe(
      'TokenExpired',
    );
  });

  it('refuses a token for another audience', () => {
    const token = createWorkloadToken(claims, es256.privateKey);
    expect(tokenError(() => verifyWorkloadToken(token, es256.publicKey, { audience: 'destination.meshbus', now }))).toBe('TokenAudienceMismatch');
  });

  it('refuses tampered payloads, signatures and other keys', () => {
    const token = createWorkloadToken(claims, es256.privateKey);
    const [header, payload, signature] = segments(token);
    const admin = encode({ ...(json(payload) as object), sub: 'system:serviceaccount:kube-system:admin' });
    expect(tokenError(() => verifyWorkloadToken(`${header}.${admin}.${signature}`, es256.publicKey, { audience: 'identity.meshbus', now }))).toBe(
      'TokenSignatureInvalid',
    );
    const flipped = Buffer.from(signature, 'base64url');
    flipped[5]! ^= 0x01;
    expect(
      tokenError(() => verifyWorkloadToken(`${header}.${payload}.${flipped.toString('base64url')}`, es256.publicKey, { audience: 'identity.meshbus', now })),
    ).toBe('TokenSignatureInvalid');
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(tokenError(() => verifyWorkloadToken(token, otherKey, { audience: 'identity.meshbus', now }))).toBe('TokenSignatureInvalid');
    expect(tokenError(() => verifyWorkloadToken(token, ed25519.publicKey, { audience: 'identity.meshbus', now }))).toBe('TokenSignatureInvalid');
  });

  it('refuses alg none and unknown critical headers', () => {
    const token = createWorkloadToken(claims, es256.privateKey);
    const [, payload] = segments(token);
    expect(tokenError(() => verifyWorkloadToken(`${encode({ alg: 'none' })}.${payload}.`, es256.publicKey, { audience: 'identity.meshbus', now }))).toBe(
      'MalformedToken',
    );
    expect(
      tokenError(() => verifyWorkloadToken(`${encode({ alg: 'ES256', crit: ['x'] })}.${payload}.AAAA`, es256.publicKey, { audience: 'identity.meshbus', now })),
    ).toBe('MalformedToken');
  });

  it.each(['', 'a.b', 'a.b.c.d', '!!!.e30.AAAA', `${encode([1])}.e30.AAAA`, `${Buffer.from('{').toString('base64url')}.e30.AAAA`, `${encode({ alg: 'ES256' })}.e30.A`])(
    'refuses malformed token %j',
    (token) => {
      expect(tokenError(() => verifyWorkloadToken(token, es256.publicKey, { audience: 'identity.meshbus', now }))).toBe('MalformedToken');
    },
  );

  it('refuses signed tokens whose claims are not ours', () => {
    // Signs a hand-made payload with the right key, so verification reaches the claim checks.
    const sign = (payload: object): string => {
      const input = `${encode({ alg: 'ES256', typ: 'JWT' })}.${encode(payload)}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: es256.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const exp = Math.floor(claims.expiresAt.getTime() / 1000);
    const verify = (token: string) => verifyWorkloadToken(token, es256.publicKey, { audience: 'identity.meshbus', now });
    expect(tokenError(() => verify(sign({ sub: 'system:serviceaccount:shop:web', aud: 'identity.meshbus' })))).toBe('MalformedToken');
    expect(tokenError(() => verify(sign({ sub: 'alice', aud: 'identity.meshbus', exp })))).toBe('MalformedToken');
    expect(tokenError(() => verify(sign({ sub: 'system:serviceaccount:shop:web:x', aud: 'identity.meshbus', exp })))).toBe('MalformedToken');
    expect(verify(sign({ sub: 'system:serviceaccount:shop:web', aud: ['other', 'identity.meshbus'], exp }))).toEqual({ namespace: 'shop', serviceAccount: 'web' });
  });

  it('refuses an exp outside the range of dates as malformed, not with a RangeError', () => {
    const input = `${encode({ alg: 'ES256' })}.${encode({ sub: 'system:serviceaccount:shop:web', aud: 'identity.meshbus', exp: -8640000000000.001 })}`;
    const token = `${input}.${cryptoSign('sha256', Buffer.from(input), { key: es256.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    expect(tokenError(() => verifyWorkloadToken(token, es256.publicKey, { audience: 'identity.meshbus', now }))).toBe('MalformedToken');
  });

  it('refuses a signature whose last character carries unused bits (another text of the same bytes)', () => {
    for (const keys of [es256, ed25519]) {
      const token = createWorkloadToken(claims, keys.privateKey);
      // 64 signature bytes take 86 characters; the last one holds 2 data bits and 4 unused ones.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(token.at(-1)!);
      const twin = token.slice(0, -1) + alphabet[last ^ 1];
      expect(Buffer.from(segments(twin)[2], 'base64url')).toEqual(Buffer.from(segments(token)[2], 'base64url'));
      expect(tokenError(() => verifyWorkloadToken(twin, keys.publicKey, { audience: 'identity.meshbus', now }))).toBe('MalformedToken');
    }
  });

  it('refuses to create tokens from invalid claims or keys', () => {
    expect(tokenError(() => createWorkloadToken({ ...claims, namespace: 'Shop' }, es256.privateKey))).toBe('InvalidClaims');
    expect(tokenError(() => createWorkloadToken({ ...claims, audience: '' }, es256.privateKey))).toBe('InvalidClaims');
    expect(tokenError(() => createWorkloadToken({ ...claims, expiresAt: new Date(Number.NaN) }, es256.privateKey))).toBe('InvalidClaims');
    expect(tokenError(() => createWorkloadToken(claims, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey))).toBe('InvalidClaims');
    expect(tokenError(() => createWorkloadToken(claims, es256.publicKey))).toBe('InvalidClaims');
  });
});
