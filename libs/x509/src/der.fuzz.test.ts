import forge from 'node-forge';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { DerError, DerErrorCode } from './errors.js';
import { decodeDer, derChildren, derContent } from './der-decoder.js';
import type { DerElement } from './der-decoder.js';
import { isConstructed } from './der-tag.js';
import { derInput, encodeTree, validCertificates, validCsrs } from './der-fuzz-support.js';
import type { DerTree } from './der-fuzz-support.js';

// The tree both parsers agree on: tag octet, then children or content as hex.
type Tree = { tag: number; children: Tree[] } | { tag: number; content: string };

function projectTree(element: DerElement): Tree {
  if (isConstructed(element.tag)) return { tag: element.tag, children: derChildren(element).map(projectTree) };
  return { tag: element.tag, content: Buffer.from(derContent(element)).toString('hex') };
}

function forgeTree(node: forge.asn1.Asn1): Tree {
  const tag = node.tagClass | node.type | (node.constructed ? 0x20 : 0);
  if (Array.isArray(node.value)) return { tag, children: node.value.map(forgeTree) };
  return { tag, content: Buffer.from(node.value, 'binary').toString('hex') };
}

/**
 * Minimal-length DER of what forge read. (forge.asn1.toDer is not used: it also strips leading
 * bytes of INTEGER content, and does so for tag number 2 of every class.)
 */
function minimalEncoding(node: forge.asn1.Asn1): Buffer {
  const toTree = (n: forge.asn1.Asn1): DerTree => {
    const tag = n.tagClass | n.type | (n.constructed ? 0x20 : 0);
    return Array.isArray(n.value) ? { tag, children: n.value.map(toTree) } : { tag, content: Buffer.from(n.value, 'binary') };
  };
  return Buffer.from(encodeTree(toTree(node)));
}

function hasHighTagNumber(node: forge.asn1.Asn1): boolean {
  return (node.type as number) === 0x1f || (Array.isArray(node.value) && node.value.some(hasHighTagNumber));
}

// Forge reads a BMPString's content two bytes at a time while parsing and runs past the element
// when its length is odd; with no type number matching it, forge keeps BMPString content as raw
// bytes like any other primitive, which is what this comparison is about.
(forge.asn1.Type as unknown as Record<string, number>).BMPSTRING = -1;

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

// @types/node-forge declares only the older boolean form of the options.
interface ForgeDerOptions {
  readonly strict: boolean;
  readonly parseAllBytes: boolean;
  readonly decodeBitStrings: boolean;
  readonly maxDepth: number;
}
const forgeFromDer = forge.asn1.fromDer as unknown as (bytes: string, options: ForgeDerOptions) => forge.asn1.Asn1;

function viaForge(bytes: Uint8Array): Outcome<forge.asn1.Asn1> {
  const binary = Buffer.from(bytes).toString('binary');
  // decodeBitStrings off: forge would otherwise guess whether a BIT STRING holds DER.
  return attempt(() => forgeFromDer(binary, { strict: true, parseAllBytes: true, decodeBitStrings: false, maxDepth: 100_000 }));
}

/**
 * The project's decoder and forge's reader must agree, except where DER is stricter than what
 * forge reads: forge takes BER lengths (indefinite, long form with leading zeros, long form for
 * short lengths) and has no high-tag-number form (it reads the octet after a 0x1f identifier as a
 * length). Those inputs are refused here with BadLength and UnexpectedTag respectively, and the
 * checks below pin down that nothing else is let through.
 */
function checkAgreement(bytes: Uint8Array): void {
  const ours = attempt(() => projectTree(decodeDer(bytes)));
  const theirs = viaForge(bytes);
  if (ours.ok) {
    expect(theirs.ok, 'forge refuses DER the project accepts').toBe(true);
    if (!theirs.ok) return;
    expect(ours.value).toEqual(forgeTree(theirs.value));
    // What the project accepts has minimal lengths: encoding forge's tree again gives the same bytes.
    expect(minimalEncoding(theirs.value).equals(Buffer.from(bytes))).toBe(true);
    return;
  }
  expect(ours.error).toBeInstanceOf(DerError);
  const error = ours.error as DerError;
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.offset).toBeGreaterThanOrEqual(0);
  expect(error.offset).toBeLessThanOrEqual(bytes.length);
  if (!theirs.ok) return;
  switch (error.code) {
    case DerErrorCode.BadLength: {
      expect(minimalEncoding(theirs.value).equals(Buffer.from(bytes)), 'refused as BadLength, but the lengths are minimal DER').toBe(false);
      break;
    }
    case DerErrorCode.UnexpectedTag:
      expect(bytes[error.offset!]! & 0x1f).toBe(0x1f);
      expect(hasHighTagNumber(theirs.value)).toBe(true);
      break;
    default:
      expect.fail(`the project refuses with ${error.code} (${error.message}) what forge reads as ${JSON.stringify(forgeTree(theirs.value))}`);
  }
}

describe('DER decoder against node-forge', () => {
  fuzzProperty('agrees on arbitrary bytes, generated trees and mutations of them', [derInput([])], checkAgreement, { runs: 400 });
  fuzzProperty('agrees on mutated CSRs and certificates', [derInput([...validCsrs, ...validCertificates])], checkAgreement, { runs: 400 });
});
