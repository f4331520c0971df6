import { parentPort } from 'node:worker_threads';
import { parseManifest } from './manifest-parse.js';

/** Documents per reply: the receiving thread decodes each reply in one go, so keep them small. */
const documentsPerReply = 200;

// Runs parseManifest off the main thread for ManifestParser.
parentPort?.on('message', (request: { id: number; text: string }) => {
  const parsed = parseManifest(request.text);
  if ('yamlError' in parsed) {
    parentPort!.postMessage({ id: request.id, parsed, done: true });
    return;
  }
  const { documents } = parsed;
  for (let i = 0; i === 0 || i < documents.length; i += documentsPerReply) {
    parentPort!.postMessage({ id: request.id, documents: documents.slice(i, i + documentsPerReply), done: i + documentsPerReply >= documents.length });
  }
});
