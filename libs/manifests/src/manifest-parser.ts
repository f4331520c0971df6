import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { parseManifest, type ParsedDocument, type ParsedManifest } from './manifest-parse.js';

/** Options of {@link ManifestParser}. */
export interface ManifestParserOptions {
  /** Files at least this long (in characters) are parsed on a worker thread. @default 65536 */
  readonly workerThreshold?: number;
  readonly logger: Logger;
}

/** The compiled worker; tests that run the TypeScript sources use the build next to them. */
function workerFile(): string | undefined {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/manifest-parse-worker.js', here) : new URL('./manifest-parse-worker.js', here);
  const file = fileURLToPath(url);
  return existsSync(file) ? file : undefined;
}

/**
 * Parses manifest files, big ones on a worker thread so that the event loop
 * (and whatever renews leases on it) keeps running while a multi-megabyte
 * file is read. Small files are parsed in place, where a round trip to the
 * worker would cost more than the parse. Falls back to parsing in place if
 * the worker cannot run.
 */
export class ManifestParser implements AsyncDisposable {
  readonly #threshold: number;
  readonly #logger: Logger;
  #worker: Worker | undefined;
  #workerUnavailable = false;
  #nextId = 0;
  readonly #pending = new Map<number, { resolve: (p: ParsedManifest) => void; text: string; documents: ParsedDocument[] }>();

  constructor(options: ManifestParserOptions) {
    this.#threshold = options.workerThreshold ?? 65_536;
    this.#logger = options.logger;
  }

  async parse(text: string): Promise<ParsedManifest> {
    if (text.length < this.#threshold) return parseManifest(text);
    const worker = this.#ensureWorker();
    if (!worker) return parseManifest(text);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, text, documents: [] });
      worker.postMessage({ id, text });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#workerUnavailable = true;
    this.#failPending();
    await worker?.terminate();
  }

  #ensureWorker(): Worker | undefined {
    if (this.#worker || this.#workerUnavailable) return this.#worker;
    const file = workerFile();
    if (!file) {
      this.#workerUnavailable = true;
      this.#logger.warn('the manifest parse worker is not built; big manifest files are parsed on the main thread');
      return undefined;
    }
    // Not the parent's flags: a test runner's resolution conditions would point the worker at TypeScript sources.
    const worker = new Worker(file, { execArgv: [] });
    worker.unref();
    // Replies come in slices of documents, pulled one by one, so that decoding a big result never blocks this thread for long.
    worker.on('message', (reply: { id: number; done: boolean } & ({ parsed: ParsedManifest } | { documents: ParsedDocument[] })) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      if ('documents' in reply) for (const d of reply.documents) pending.documents.push(d);
      if (!reply.done) {
        // Ask for the next slice only once this one is taken, so that other work runs in between.
        setImmediate(() => this.#worker?.postMessage({ id: reply.id, more: true }));
        return;
      }
      this.#pending.delete(reply.id);
      pending.resolve('parsed' in reply ? reply.parsed : { documents: pending.documents });
    });
    worker.on('error', (err) => {
      this.#logger.error({ err: errorMessage(err) }, 'the manifest parse worker failed; parsing on the main thread');
      this.#worker = undefined;
      this.#workerUnavailable = true;
      this.#failPending();
    });
    this.#worker = worker;
    return worker;
  }

  /** Parses in place whatever the worker will not answer. */
  #failPending(): void {
    for (const [id, { resolve, text }] of this.#pending) {
      this.#pending.delete(id);
      resolve(parseManifest(text));
    }
  }
}
