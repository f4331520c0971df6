import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReplayableBody } from './body-buffer.js';

/** A sink that collects what it is sent. */
function sink(options: { highWaterMark?: number } = {}): Writable & { text: () => string; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  const w = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString(), ended: () => ended });
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplayableBody', () => {
  it('sends a complete small body again, in full, to a later attempt', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 100 });
    const first = sink();
    body.sendTo(first);
    source.write('hello ');
    source.end('world');
    await tick();
    expect(first.text()).toBe('hello world');
    expect(first.ended()).toBe(true);
    expect(body.replayableLength).toBe(11);
    const second = sink();
    body.sendTo(second);
    await tick();
    expect(second.text()).toBe('hello world');
    expect(second.ended()).toBe(true);
  });

  it('is not replayable while the body is still arriving, and a later attempt gets the rest as it comes', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 100 });
    const first = sink();
    body.sendTo(first);
    source.write('part 1;');
    await tick();
    expect(body.replayableLength).toBeUndefined();
    first.destroy();
    await tick();
    const second = sink();
    body.sendTo(second);
    source.end('part 2');
    await tick();
    expect(second.text()).toBe('part 1;part 2');
    expect(body.replayableLength).toBe(13);
  });

  it('keeps reading into its buffer when the attempt it fed went away, so that the body is complete for a retry', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 100 });
    const first = sink();
    body.sendTo(first);
    first.destroy();
    await tick();
    source.end('after the failure');
    await tick();
    expect(body.replayableLength).toBe(17);
  });

  it('keeps nothing beyond the limit: no replay, and the body still flows to the first attempt', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 10 });
    const first = sink();
    body.sendTo(first);
    source.end('0123456789abcdef');
    await tick();
    expect(first.text()).toBe('0123456789abcdef');
    expect(body.received).toBe(16);
    expect(body.replayableLength).toBeUndefined();
    expect(() => body.sendTo(sink())).toThrow(/larger than the retry limit/);
  });

  it('does not keep a body whose declared length is over the limit', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 10, declaredLength: 11 });
    const first = sink();
    body.sendTo(first);
    source.end('short');
    await tick();
    expect(body.replayableLength).toBeUndefined();
  });

  it('follows the attempt\'s backpressure', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 1_000_000 });
    let release: (() => void) | undefined;
    const received: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        release = cb;
      },
    });
    body.sendTo(slow);
    source.write(Buffer.alloc(10));
    await tick();
    expect(source.isPaused()).toBe(true);
    release!();
    await tick();
    expect(source.isPaused()).toBe(false);
  });

  it('is not replayable when the client broke the body off', async () => {
    const source = new PassThrough();
    const body = new ReplayableBody(source, { limit: 100 });
    body.sendTo(sink());
    source.write('half');
    source.destroy();
    await tick();
    expect(body.replayableLength).toBeUndefined();
  });
});
