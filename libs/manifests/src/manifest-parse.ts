import { parseAllDocuments } from 'yaml';
import { canonicalJson } from '@meshbus/runtime';
import { decodeDocument, type DecodedDocument } from './decode.js';

/** The text of one manifest file, parsed and validated, not yet merged with what the file held before. */
export type ParsedManifest =
  /** The file is not valid YAML; the message is the first line of the first error. */
  | { readonly yamlError: string }
  /**
   * One entry per YAML document, in order; null for an empty document. Each
   * valid resource comes with its fingerprint (canonical JSON), computed here
   * so that a worker does that work too.
   */
  | { readonly documents: readonly (ParsedDocument | null)[] };

/** A decoded document, and the fingerprint of its resource when it is valid. */
export type ParsedDocument = DecodedDocument & { readonly fingerprint?: string };

const maxAliasCount = 100;

/**
 * Parses and validates the documents of a manifest file. Pure and without
 * state, so it can run on a worker thread: this is the costly part of reading
 * a big file.
 */
export function parseManifest(text: string): ParsedManifest {
  const parsed = parseAllDocuments(text, { merge: true, prettyErrors: true });
  const streamErrors = 'empty' in parsed ? parsed.errors : parsed.flatMap((d) => d.errors);
  if (streamErrors[0]) return { yamlError: firstLine(streamErrors[0].message) };
  const values: unknown[] = [];
  try {
    for (const document of parsed) values.push(document.toJS({ maxAliasCount }));
  } catch (err) {
    return { yamlError: firstLine((err as Error).message) };
  }
  return {
    documents: values.map((value): ParsedDocument | null => {
      if (value === null || value === undefined) return null;
      const decoded = decodeDocument(value);
      return decoded.ok ? { ...decoded, fingerprint: canonicalJson(decoded.resource) } : decoded;
    }),
  };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}
