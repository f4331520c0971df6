import { parentPort } from 'node:worker_threads';
import { parseManifest, type ParsedDocument } from './manifest-parse.js';

/** Documents per reply: the receiving thread decodes each reply in one go, so keep them small. */
const documentsPerReply = 200;

/** Parsed files whose documents the main thread has not taken yet. */
const results = new Map<number, { documents: readonly (ParsedDocument | null)[]; next: number }>();

/**
 * Runs parseManifest off the main thread for ManifestParser. The main thread
 * pulls a big result one slice at a time: a message port hands every queued
 * message over in one go, so pushing all slices at once would block it as
 * long as one big message would.
 */
parentPort?.on('message', (request: { id: number; text: string } | { id: number; more: true }) => {
  if ('text' in request) {
    const parsed = parseManifest(request.text);
    if ('yamlError' in parsed) {
      parentPort!.postMessage({ id: request.id, parsed, done: true });
      return;
    }
    results.set(request.id, { documents: parsed.documents, next: 0 });
  }
  const result = results.get(request.id);
  if (!result) return;
  const documents = result.documents.slice(result.next, result.next + documentsPerReply);
  result.next += documentsPerReply;
  const done = result.next >= result.documents.length;
  if (done) results.delete(request.id);
  parentPort!.postMessage({ id: request.id, documents, done });
});
