import type { Timers } from './p2c-balancer.js';

/** A hand-driven clock for balancer tests: time moves only with `advance`, draws come from `draws` then `fallback`. */
export class ManualTimers implements Timers {
  #now = 0;
  #next = 0;
  readonly #pending = new Map<number, { at: number; fn: () => void }>();
  draws: number[] = [];
  fallback: () => number = () => 0.5;

  now(): number {
    return this.#now;
  }

  random(): number {
    return this.draws.shift() ?? this.fallback();
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.#next++;
    this.#pending.set(id, { at: this.#now + ms, fn });
    return () => this.#pending.delete(id);
  }

  /** Moves the clock forward, running due timers in time order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#pending) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.#pending.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
  }

  pendingTimers(): number {
    return this.#pending.size;
  }
}
