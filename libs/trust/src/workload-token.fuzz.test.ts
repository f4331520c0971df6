import { generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { WorkloadTokenError, WorkloadTokenErrorCode, createWorkloadToken, verifyWorkloadToken } from './workload-token.js';

const now = new Date(Date.UTC(2031, 0, 1, 12));
const audience = 'identity.meshbus';
const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed25519 = generateKeyPairSync('ed25519');
const otherKeys: readonly KeyObject[] = [
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  generateKeyPairSync('ed25519').publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey,
];
const signers = [es256, ed25519] as const;
const codes = new Set<string>(Object.values(WorkloadTokenErrorCode));

/** Verifies and returns the subject, or the refusal, which must be a WorkloadTokenError. */
function outcome(token: string, key: KeyObject): { namespace: string; serviceAccount: string } | WorkloadTokenError {
  try {
    return verifyWorkloadToken(token, key, { audience, now });
  } catch (error) {
    expect(error).toBeInstanceOf(WorkloadTokenError);
    expect(codes.has((error as WorkloadTokenError).code)).toBe(true);
    expect((error as WorkloadTokenError).message).toMatch(/\S/);
    return error as WorkloadTokenError;
  }
}

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const claims = fc.record({
  namespace: dnsLabel,
  serviceAccount: dnsLabel,
  expiresAt: fc.integer({ min: 1, max: 10 * 365 * 86_400 }).map((seconds) => new Date(now.getTime() + seconds * 1000)),
  audience: fc.oneof(fc.constant(audience), fc.string({ minLength: 1, maxLength: 20 })),
});

const base64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 120 });
const segment = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const jsonSegment = fc.oneof(fc.jsonValue().map(segment), fc.string().map(segment), base64url, fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue()).map(segment));
const headerSegment = fc.oneof(
  jsonSegment,
  fc.record({ alg: fc.constantFrom('ES256', 'EdDSA', 'none', 'HS256'), typ: fc.constant('JWT') }, { requiredKeys: ['alg'] }).map(segment),
);
/** Payloads near what a token holds: sub, aud and exp of any JSON type, plus other keys. */
const payloadValue = fc.record(
  {
    sub: fc.oneof(fc.jsonValue(), fc.tuple(dnsLabel, fc.string({ maxLength: 30 })).map(([ns, rest]) => `system:serviceaccount:${ns}:${rest}`)),
    aud: fc.oneof(fc.constant(audience), fc.array(fc.oneof(fc.constant(audience), fc.jsonValue()), { maxLength: 3 }), fc.jsonValue()),
    exp: fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e300, -1e300, 8.64e12, 8.64e12 + 1, -8.64e12 - 1), fc.jsonValue()),
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

type TextEdit =
  | { readonly kind: 'replace'; readonly at: number; readonly char: string }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'last'; readonly segment: number; readonly bit: number };

/** Edits of a token's text. */
const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: fc.constantFrom(...'Aa0_-.=+/ \n'.split(''), 'é') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('last' as const), segment: fc.nat({ max: 2 }), bit: fc.integer({ min: 0, max: 5 }) }),
);
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Flips one bit of the 6 a base64url character carries, so the text stays base64url. */
function flipBit(token: string, at: number, bit: number): string {
  const index = alphabet.indexOf(token[at] ?? '');
  if (index < 0) return token;
  return token.slice(0, at) + alphabet[index ^ (1 << bit)] + token.slice(at + 1);
}

function applyEdit(token: string, edit: TextEdit): string {
  const at = 'at' in edit ? edit.at % (token.length + 1) : 0;
  switch (edit.kind) {
    case 'replace':
      return token.slice(0, at) + edit.char + token.slice(at + 1);
    case 'delete':
      return token.slice(0, at) + token.slice(at + edit.count);
    case 'insert':
      return token.slice(0, at) + edit.text + token.slice(at);
    case 'flip':
      return flipBit(token, at, edit.bit);
    case 'last': {
      // The last character of a segment carries the bits base64url encoders leave zero.
      const end = token.split('.').slice(0, edit.segment + 1).join('.').length - 1;
      return flipBit(token, end, edit.bit);
    }
  }
}

describe('verifyWorkloadToken', () => {
  fuzzProperty('refuses any string with a WorkloadTokenError', [fc.oneof(fc.string({ maxLength: 200 }), fc.tuple(headerSegment, jsonSegment, base64url).map((parts) => parts.join('.')))], (token) => {
    for (const key of [es256.publicKey, ed25519.publicKey]) expect(outcome(token, key)).toBeInstanceOf(WorkloadTokenError);
  }, { runs: 200 });

  fuzzProperty('accepts a token it made, with its key only, for the subject it names', [claims, fc.constantFrom(...signers)], (tokenClaims, keys) => {
    const token = createWorkloadToken(tokenClaims, keys.privateKey);
    const result = outcome(token, keys.publicKey);
    if (tokenClaims.audience === audience) {
      expect(result).toEqual({ namespace: tokenClaims.namespace, serviceAccount: tokenClaims.serviceAccount });
    } else {
      expect(result).toMatchObject({ code: WorkloadTokenErrorCode.TokenAudienceMismatch });
    }
    for (const key of otherKeys) expect(outcome(token, key)).toMatchObject({ code: WorkloadTokenErrorCode.TokenSignatureInvalid });
  }, { runs: 50, maxRuns: 10_000 });

  fuzzProperty('never accepts a mutated token', [claims, fc.constantFrom(...signers), fc.array(textEdit, { minLength: 1, maxLength: 3 })], (tokenClaims, keys, edits) => {
    const token = createWorkloadToken({ ...tokenClaims, audience }, keys.privateKey);
    const mutated = edits.reduce(applyEdit, token);
    fc.pre(mutated !== token);
    expect(outcome(mutated, keys.publicKey)).toBeInstanceOf(WorkloadTokenError);
  }, { runs: 500 });

  fuzzProperty('refuses any validly signed payload it would not write, with a WorkloadTokenError', [fc.constantFrom(...signers), payloadValue], (keys, payload) => {
    const alg = keys === es256 ? 'ES256' : 'EdDSA';
    const signingInput = `${segment({ alg })}.${segment(payload)}`;
    const signature = sign(alg === 'ES256' ? 'sha256' : null, Buffer.from(signingInput), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' });
    const result = outcome(`${signingInput}.${signature.toString('base64url')}`, keys.publicKey);
    if (result instanceof WorkloadTokenError) return;
    // Accepted: the payload is one this service could have written.
    expect(payload.sub).toBe(`system:serviceaccount:${result.namespace}:${result.serviceAccount}`);
    expect(typeof payload.exp === 'number' && payload.exp * 1000 > now.getTime()).toBe(true);
  }, { runs: 300 });
});
