/*
 * A request body read once from the client and kept, up to a limit, so that
 * a retry can send it again. The first attempt gets the body as it arrives
 * (with the client's backpressure); a later attempt gets what was kept, then
 * the rest as it arrives. A body larger than the limit is not kept.
 */
import type { Readable, Writable } from 'node:stream';

/** Options of {@link ReplayableBody}. */
export interface ReplayableBodyOptions {
  /** The most bytes kept for a replay. */
  readonly limit: number;
  /** The body's length when the request declared it (`content-length`): a larger one is not kept at all. */
  readonly declaredLength?: number | undefined;
}

/** A request body that can be sent more than once while it fits in its limit. */
export class ReplayableBody {
  readonly #source: Readable;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #overflowed: boolean;
  #ended = false;
  #failed = false;
  #sink: Writable | undefined;
  #sends = 0;

  constructor(source: Readable, options: ReplayableBodyOptions) {
    this.#source = source;
    this.#limit = options.limit;
    this.#overflowed = options.declaredLength !== undefined && options.declaredLength > options.limit;
    source.on('data', (chunk: Buffer) => this.#receive(chunk));
    source.once('end', () => {
      this.#ended = true;
      this.#sink?.end();
    });
    source.once('error', () => (this.#failed = true));
    source.once('close', () => {
      if (!this.#ended) this.#failed = true;
    });
  }

  /** Bytes received from the client so far. */
  get received(): number {
    return this.#bytes;
  }

  /**
   * The body's length when it can be sent again: all of it has arrived and
   * it fits in the limit. Undefined while it is still arriving (a streaming
   * body), when it was too large, or when the client broke it off.
   */
  get replayableLength(): number | undefined {
    return this.#ended && !this.#overflowed && !this.#failed ? this.#bytes : undefined;
  }

  /**
   * Sends the body to `sink`: what was kept, then what arrives. Only one sink
   * receives at a time; a new one replaces the last. Throws when part of the
   * body is gone (it was larger than the limit) and this is not the first send.
   */
  sendTo(sink: Writable): void {
    if (this.#sends > 0 && this.#overflowed) throw new Error('the request body was larger than the retry limit and is not kept');
    this.#sends++;
    this.#detach();
    for (const chunk of this.#chunks) sink.write(chunk);
    if (this.#ended) {
      sink.end();
      return;
    }
    this.#sink = sink;
    const release = (): void => {
      if (this.#sink === sink) this.#detach();
    };
    sink.once('close', release);
    sink.once('error', release);
  }

  #detach(): void {
    this.#sink = undefined;
    // With no attempt to feed, the rest of the body is read (and kept while it fits), so that it is complete for a retry.
    if (this.#source.isPaused()) this.#source.resume();
  }

  #receive(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (!this.#overflowed) {
      if (this.#bytes > this.#limit) {
        this.#overflowed = true;
        this.#chunks = [];
      } else this.#chunks.push(chunk);
    }
    const sink = this.#sink;
    if (sink && !sink.write(chunk)) {
      this.#source.pause();
      sink.once('drain', () => {
        if (this.#sink === sink) this.#source.resume();
      });
    }
  }
}
