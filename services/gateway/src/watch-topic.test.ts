import { describe, expect, it } from 'vitest';
import { WatchTopic, type Snapshot, type StreamSink } from './watch-topic.js';

interface Counter extends Snapshot {
  value: number;
}

/** A sink with a buffer of `capacity` messages that drains when told to. */
class FakeSink implements StreamSink {
  written: string[] = [];
  private buffered = 0;
  private drained: (() => void) | undefined;
  constructor(private readonly capacity = Infinity) {}
  write(m: Buffer): boolean {
    this.written.push(m.toString());
    this.buffered++;
    return this.buffered < this.capacity;
  }
  onceDrained(cb: () => void): void {
    this.drained = cb;
  }
  drain(): void {
    this.buffered = 0;
    const cb = this.drained;
    this.drained = undefined;
    cb?.();
  }
}

function topic(live = true) {
  let encodings = 0;
  const t = new WatchTopic<Counter>(
    { version: 0, value: 0 },
    (from, to) => {
      encodings++;
      return [Buffer.from(`${from?.value ?? '-'}->${to.value}`)];
    },
    live,
  );
  return { t, encodings: () => encodings };
}

describe('WatchTopic', () => {
  it('sends the current state on watch, then each change', () => {
    const { t } = topic();
    const s = new FakeSink();
    t.watch(s);
    t.update({ version: 1, value: 1 });
    t.update({ version: 2, value: 2 });
    expect(s.written).toEqual(['-->0', '0->1', '1->2']);
  });

  it('encodes a change once for all streams in the same position', () => {
    const { t, encodings } = topic();
    const sinks = Array.from({ length: 100 }, () => new FakeSink());
    for (const s of sinks) t.watch(s);
    expect(encodings()).toBe(1);
    t.update({ version: 1, value: 1 });
    expect(encodings()).toBe(2);
    expect(sinks.every((s) => s.written.at(-1) === '0->1')).toBe(true);
  });

  it('a slow stream is skipped while full and jumps to the newest state when drained', () => {
    const { t } = topic();
    const slow = new FakeSink(1);
    const fast = new FakeSink();
    t.watch(slow);
    t.watch(fast);
    for (let v = 1; v <= 50; v++) t.update({ version: v, value: v });
    expect(fast.written).toHaveLength(51);
    expect(slow.written).toEqual(['-->0']);
    slow.drain();
    expect(slow.written).toEqual(['-->0', '0->50']);
  });

  it('holds streams until the topic is live', () => {
    const { t } = topic(false);
    const s = new FakeSink();
    const w = t.watch(s);
    expect(s.written).toEqual([]);
    expect(w.lagging).toBe(true);
    t.update({ version: 1, value: 7 });
    expect(s.written).toEqual([]);
    t.goLive();
    expect(s.written).toEqual(['-->7']);
  });

  it('stops writing to a stream once unwatched', () => {
    const { t } = topic();
    const s = new FakeSink();
    const w = t.watch(s);
    t.unwatch(w);
    t.update({ version: 1, value: 1 });
    expect(s.written).toEqual(['-->0']);
    expect(t.watcherCount).toBe(0);
  });
});
