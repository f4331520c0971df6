/** An immutable state of a topic; streams remember the one they last sent. */
export interface Snapshot {
  readonly version: number;
}

/** Writes messages to one gRPC stream; false means its buffer is full (wait for drain). */
export interface StreamSink {
  write(message: Buffer): boolean;
  onceDrained(callback: () => void): void;
}

/**
 * One watched key (a service port's endpoints, or its profile) and the streams
 * watching it. The messages that take a stream from one snapshot to another
 * are encoded once per (from, to) pair and shared by every stream in the same
 * position, so a change costs one encoding however many streams watch it.
 */
export class WatchTopic<S extends Snapshot> {
  private snapshot: S;
  private readonly watchers = new Set<TopicWatch<S>>();
  private transitions = new Map<number, Buffer[]>();
  private live: boolean;

  constructor(
    initial: S,
    private readonly encode: (from: S | undefined, to: S) => Buffer[],
    live: boolean,
  ) {
    this.snapshot = initial;
    this.live = live;
  }

  get current(): S {
    return this.snapshot;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Messages that take a stream from `from` (nothing sent yet when undefined) to the current snapshot. */
  transitionFrom(from: S | undefined): Buffer[] {
    const key = from?.version ?? -1;
    let msgs = this.transitions.get(key);
    if (!msgs) {
      msgs = this.encode(from, this.snapshot);
      this.transitions.set(key, msgs);
    }
    return msgs;
  }

  /** Replaces the snapshot and lets every watching stream catch up. */
  update(next: S): void {
    this.snapshot = next;
    this.transitions = new Map();
    if (!this.live) return;
    for (const w of this.watchers) w.notify();
  }

  /** Marks the topic's data as synced from the bus: streams waiting for a first message get it. */
  goLive(): void {
    if (this.live) return;
    this.live = true;
    for (const w of this.watchers) w.notify();
  }

  watch(sink: StreamSink): TopicWatch<S> {
    const w = new TopicWatch(this, sink);
    this.watchers.add(w);
    if (this.live) w.notify();
    return w;
  }

  unwatch(w: TopicWatch<S>): void {
    this.watchers.delete(w);
  }

  /** Every watch of the topic (for shutdown). */
  all(): IterableIterator<TopicWatch<S>> {
    return this.watchers.values();
  }
}

/**
 * One stream's position in a topic. A stream whose buffer is full is not
 * written to; when it drains it jumps straight to the newest snapshot, so a
 * slow reader costs one pending snapshot reference, never a queue.
 */
export class TopicWatch<S extends Snapshot> {
  private sent: S | undefined;
  private blocked = false;

  constructor(
    private readonly topic: WatchTopic<S>,
    private readonly sink: StreamSink,
  ) {}

  notify(): void {
    if (!this.blocked) this.flush();
  }

  /** True when the stream has not caught up with the topic (waiting for drain). */
  get lagging(): boolean {
    return this.blocked || this.sent !== this.topic.current;
  }

  private flush(): void {
    const target = this.topic.current;
    if (target === this.sent) return;
    const msgs = this.topic.transitionFrom(this.sent);
    this.sent = target;
    let writable = true;
    for (const m of msgs) writable = this.sink.write(m);
    if (!writable) {
      this.blocked = true;
      this.sink.onceDrained(() => {
        this.blocked = false;
        this.flush();
      });
    }
  }
}
