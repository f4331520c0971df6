import { DevStartError } from '../errors.js';

/** A process whose admin endpoint answers `GET /ready`. */
export interface ReadinessTarget {
  name: string;
  adminUrl: string;
}

/** Options of {@link waitUntilReady}. */
export interface ReadinessOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** @default 250 */
  intervalMs?: number;
  /** Extra words about a process for the timeout message, e.g. that it keeps exiting. */
  describe?(name: string): string | undefined;
}

async function probe(url: string): Promise<{ ready: true } | { ready: false; why: string }> {
  try {
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.text()).trim();
    if (res.status === 200) return { ready: true };
    return { ready: false, why: `answered ${res.status}${body ? `: ${body}` : ''}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { ready: false, why: `no answer (${cause?.code ?? cause?.message ?? (err as Error).message})` };
  }
}

/**
 * Polls every target's `/ready` until all answer 200. Resolves false if the
 * signal aborts first; throws {@link DevStartError} naming the processes that
 * are not ready when the time is up.
 */
export async function waitUntilReady(targets: readonly ReadinessTarget[], options: ReadinessOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const pending = new Map(targets.map((t) => [t.name, t]));
  const reasons = new Map<string, string>();
  while (pending.size > 0) {
    if (options.signal.aborted) return false;
    await Promise.all(
      [...pending.values()].map(async (t) => {
        const r = await probe(t.adminUrl);
        if (r.ready) pending.delete(t.name);
        else reasons.set(t.name, r.why);
      }),
    );
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      const list = [...pending.keys()].map((name) => {
        const extra = options.describe?.(name);
        return `${name} at ${pending.get(name)!.adminUrl}/ready ${reasons.get(name)}${extra ? `; ${extra}` : ''}`;
      });
      throw new DevStartError(`not ready after ${options.timeoutMs / 1000}s: ${list.join('; ')}`);
    }
    await new Promise<void>((resolve) => {
      // One listener per wait, removed when the wait ends, so that polling never piles them up.
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        options.signal.removeEventListener('abort', onAbort);
        resolve();
      }, options.intervalMs ?? 250);
      options.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  return true;
}
