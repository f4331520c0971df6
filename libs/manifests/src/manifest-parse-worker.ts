import { parentPort } from 'node:worker_threads';
import { parseManifest } from './manifest-parse.js';

// Runs parseManifest off the main thread for ManifestParser.
parentPort?.on('message', (request: { id: number; text: string }) => {
  parentPort!.postMessage({ id: request.id, parsed: parseManifest(request.text) });
});
