// Inputs for the property-based tests of the decoders: a small tree encoder written apart from
// der-encoder.ts, a corpus of real encodings, and mutations of them. Not exported by the package.
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { fc } from '@fast-check/vitest';
import { readDerElement } from './der-decoder.js';
import { createCsr } from './csr.js';
import { createRootCaCertificate, createLeafCertificate } from './certificate-profiles.js';

/**
 * An ASN.1 value to encode: a primitive with content bytes, or a constructed element with children.
 * `header` replaces the length octets (the minimal ones by default), `tail` follows the content.
 */
export type DerTree = (
  | { readonly tag: number; readonly content: Uint8Array }
  | { readonly tag: number; readonly children: readonly DerTree[] }
) & { readonly header?: readonly number[]; readonly tail?: readonly number[] };

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** Minimal-length DER of a tree; the tag octet is written as given. */
export function encodeTree(tree: DerTree): Uint8Array {
  const content = 'content' in tree ? tree.content : concat(tree.children.map(encodeTree));
  return concat([Uint8Array.of(tree.tag, ...(tree.header ?? lengthOctets(content.length))), content, Uint8Array.from(tree.tail ?? [])]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const primitiveTag = fc.oneof(
  fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1e, 0x80, 0x81, 0x82, 0x86, 0x87),
  fc.integer({ min: 0, max: 0xff }).map((tag) => tag & ~0x20),
);
const constructedTag = fc.oneof(
  fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa3),
  fc.integer({ min: 0, max: 0xff }).map((tag) => tag | 0x20),
);

/** Trees of up to a few levels; tags are mostly the ones certificates use, sometimes any octet. */
export const derTree: fc.Arbitrary<DerTree> = fc.letrec<{ tree: DerTree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ tag: primitiveTag, content: fc.uint8Array({ maxLength: 140 }) }),
    fc.record({ tag: constructedTag, children: fc.array(tie('tree'), { maxLength: 4 }) }),
  ),
})).tree;

/** The tree of valid DER (read with the project's decoder, so only for inputs it accepts). */
export function parseTree(der: Uint8Array, offset = 0, limit = der.length): DerTree[] {
  const trees: DerTree[] = [];
  while (offset < limit) {
    const element = readDerElement(der, offset, limit);
    trees.push(
      (element.tag & 0x20) !== 0
        ? { tag: element.tag, children: parseTree(der, element.contentStart, element.end) }
        : { tag: element.tag, content: der.slice(element.contentStart, element.end) },
    );
    offset = element.end;
  }
  return trees;
}

/** Replaces the content (and maybe the tag) of the `leaf`-th primitive, counted modulo their number. */
export function editLeaf(tree: DerTree, leaf: number, content: Uint8Array, tag: number | undefined): DerTree {
  let count = 0;
  const countLeaves = (t: DerTree): void => {
    if ('content' in t) count++;
    else t.children.forEach(countLeaves);
  };
  countLeaves(tree);
  if (count === 0) return tree;
  let target = leaf % count;
  const rewrite = (t: DerTree): DerTree => {
    if ('content' in t) return target-- === 0 ? { tag: tag === undefined ? t.tag : tag & ~0x20, content } : t;
    return { tag: t.tag, children: t.children.map(rewrite) };
  };
  return rewrite(tree);
}

/** One edit of an encoding. Positions are taken modulo the input's length when applied. */
export type Mutation =
  | { readonly kind: 'leaf'; readonly leaf: number; readonly content: Uint8Array; readonly tag: number | undefined }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'length'; readonly element: number; readonly encoding: LengthEdit };

/** How a `length` mutation rewrites an element's length octets. */
export type LengthEdit =
  | { readonly form: 'delta'; readonly delta: number }
  /** Long form with `extraZeros` leading zero bytes (none: the long form of a short length). */
  | { readonly form: 'padded'; readonly extraZeros: number }
  | { readonly form: 'indefinite'; readonly endOfContents: boolean }
  | { readonly form: 'raw'; readonly octets: Uint8Array };

const position = fc.nat({ max: 1 << 20 });
const lengthEdit: fc.Arbitrary<LengthEdit> = fc.oneof(
  fc.record({ form: fc.constant('delta' as const), delta: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ form: fc.constant('padded' as const), extraZeros: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ form: fc.constant('indefinite' as const), endOfContents: fc.boolean() }),
  fc.record({ form: fc.constant('raw' as const), octets: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
);
const leafContent = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }).map((text) => new TextEncoder().encode(text)),
  fc.constantFrom(Uint8Array.of(), Uint8Array.of(0), Uint8Array.of(0xff), Uint8Array.of(0, 0x80), Uint8Array.of(0xff, 0x7f), Uint8Array.of(0x80), Uint8Array.of(0xc3, 0x28)),
);
/** A primitive of valid DER given new content, sometimes a new tag: the structure around it stays valid. */
export const leafMutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant('leaf' as const),
  leaf: position,
  content: leafContent,
  tag: fc.option(fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a, 0x1c, 0x1e, 0x80, 0x81, 0x82, 0x86, 0x87), { nil: undefined }),
});
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  leafMutation,
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 0xff }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('length' as const), element: position, encoding: lengthEdit }),
);

/** Offsets of the element headers of DER, in document order (depth first), up to the first that does not decode. */
export function elementOffsets(der: Uint8Array): { start: number; contentStart: number; end: number }[] {
  const found: { start: number; contentStart: number; end: number }[] = [];
  const walk = (offset: number, limit: number): void => {
    while (offset < limit) {
      const element = readDerElement(der, offset, limit);
      found.push({ start: element.start, contentStart: element.contentStart, end: element.end });
      if ((element.tag & 0x20) !== 0) walk(element.contentStart, element.end);
      offset = element.end;
    }
  };
  try {
    walk(0, der.length);
  } catch {
    // Generated trees may hold what the decoder refuses; the headers before it are still useful.
  }
  return found;
}

/**
 * Rewrites the length octets of the `index`-th element (depth first) of valid DER; the elements
 * around it get lengths that fit, so the edit is the only thing wrong.
 */
function editLength(der: Uint8Array, index: number, edit: LengthEdit): Uint8Array {
  let trees: DerTree[];
  try {
    trees = parseTree(der);
  } catch {
    return der;
  }
  let remaining = index;
  const rewrite = (tree: DerTree): DerTree => {
    if (remaining-- === 0) {
      const length = 'content' in tree ? tree.content.length : concat(tree.children.map(encodeTree)).length;
      return { ...tree, ...lengthEdited(length, edit) };
    }
    return 'content' in tree ? tree : { ...tree, children: tree.children.map(rewrite) };
  };
  return concat(trees.map(rewrite).map(encodeTree));
}

function lengthEdited(length: number, edit: LengthEdit): { header: number[]; tail: number[] } {
  let octets: number[];
  let tail: number[] = [];
  switch (edit.form) {
    case 'delta':
      octets = lengthOctets(Math.max(0, length + edit.delta));
      break;
    case 'padded': {
      const minimal = lengthOctets(length);
      const value = minimal.length === 1 ? minimal : minimal.slice(1);
      octets = [0x80 | (value.length + edit.extraZeros), ...new Array<number>(edit.extraZeros).fill(0), ...value];
      break;
    }
    case 'indefinite':
      octets = [0x80];
      if (edit.endOfContents) tail = [0, 0];
      break;
    case 'raw':
      octets = [...edit.octets];
      break;
  }
  return { header: octets, tail };
}

/** Applies one mutation; `offsets` are the element headers of the input when it is valid DER. */
export function applyMutation(der: Uint8Array, edit: Mutation, offsets: ReturnType<typeof elementOffsets>): Uint8Array {
  if (der.length === 0) return edit.kind === 'insert' ? edit.bytes : der;
  if (edit.kind === 'leaf') {
    if (offsets.length === 0) return der;
    let tree: DerTree | undefined;
    try {
      [tree] = parseTree(der);
    } catch {
      return der;
    }
    return tree === undefined ? der : encodeTree(editLeaf(tree, edit.leaf, edit.content, edit.tag));
  }
  const at = (edit.kind === 'length' ? edit.element : edit.at) % der.length;
  switch (edit.kind) {
    case 'flip': {
      const out = Uint8Array.from(der);
      out[at] = out[at]! ^ (1 << edit.bit);
      return out;
    }
    case 'set': {
      const out = Uint8Array.from(der);
      out[at] = edit.value;
      return out;
    }
    case 'truncate':
      return der.slice(0, at);
    case 'insert':
      return concat([der.subarray(0, edit.at % (der.length + 1)), edit.bytes, der.subarray(edit.at % (der.length + 1))]);
    case 'length': {
      return offsets.length === 0 ? der : editLength(der, edit.element % offsets.length, edit.encoding);
    }
  }
}

/** Applies mutations in turn; only the first can use the element offsets of the valid input. */
export function mutate(der: Uint8Array, edits: readonly Mutation[]): Uint8Array {
  let out = der;
  let offsets = elementOffsets(der);
  for (const edit of edits) {
    out = applyMutation(out, edit, offsets);
    offsets = [];
  }
  return out;
}

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/** The key that signed {@link validCsrs}[0] and [1], for tests that re-sign. */
export const csrKey = p256();

/** Real requests: P-256 with and without SANs, other key types the CA must refuse. */
export const validCsrs: readonly Uint8Array[] = [
  createCsr({
    privateKey: csrKey,
    commonName: 'web.shop',
    subjectAltNames: [
      { type: 'dns', value: 'web.shop.serviceaccount.identity.meshbus.cluster.local' },
      { type: 'ip', value: '10.0.0.7' },
      { type: 'ip', value: 'fd00::7' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ],
  }),
  createCsr({ privateKey: csrKey, subjectAltNames: [{ type: 'dns', value: 'a.b' }] }),
  createCsr({ privateKey: p256(), commonName: 'émile ☃' }),
  createCsr({ privateKey: generateKeyPairSync('ed25519').privateKey, commonName: 'ed' }),
  createCsr({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, commonName: 'p384' }),
  createCsr({ privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, commonName: 'rsa' }),
];

const caKey = p256();
const validity = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2060-01-01T00:00:00Z') };
const root = createRootCaCertificate({ commonName: 'root', privateKey: caKey, validity, pathLen: 1 });

/** Real certificates: a root CA (GeneralizedTime after 2049) and a leaf with SANs. */
export const validCertificates: readonly Uint8Array[] = [
  root,
  createLeafCertificate({
    issuer: { certificateDer: root, privateKey: caKey },
    publicKey: p256(),
    commonName: 'web.shop',
    dnsName: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    validity: { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') },
  }),
];

/** Byte strings worth decoding: arbitrary bytes, generated trees, and mutations of all of those and of the corpus. */
export function derInput(corpus: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const trees = derTree.map(encodeTree);
  const sources = corpus.length === 0 ? trees : fc.oneof(fc.constantFrom(...corpus), trees);
  return fc.oneof(
    fc.uint8Array({ maxLength: 96 }),
    derTree.map(encodeTree),
    fc.tuple(sources, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([der, edits]) => mutate(der, edits)),
  );
}
