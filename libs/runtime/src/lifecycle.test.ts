import { afterEach, describe, expect, it, vi } from 'vitest';
import { releaseAllowanceMs, runService, type Service } from './lifecycle.js';
import { silentLogger } from './logger.js';

/** A service that records what was called, and whose start and dispose do what the test says. */
function recordingService(behaviour: { start?: () => Promise<void>; dispose?: () => Promise<void> } = {}): Service & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async start() {
      calls.push('start');
      await behaviour.start?.();
    },
    async [Symbol.asyncDispose]() {
      calls.push('dispose');
      await behaviour.dispose?.();
    },
  };
}

describe('runService', () => {
  it('starts the service, disposes it once the signal is aborted, and ends with 0', async () => {
    const service = recordingService();
    const stop = new AbortController();
    const run = runService(service, { logger: silentLogger(), signal: stop.signal });
    await Promise.resolve();
    expect(service.calls).toEqual(['start']);
    stop.abort('SIGTERM');
    expect(await run).toBe(0);
    expect(service.calls).toEqual(['start', 'dispose']);
  });

  it('disposes a service still starting when the signal comes', async () => {
    const service = recordingService({ start: () => new Promise<void>(() => undefined) });
    const stop = new AbortController();
    const run = runService(service, { logger: silentLogger(), signal: stop.signal });
    stop.abort('SIGINT');
    expect(await run).toBe(0);
    expect(service.calls).toEqual(['start', 'dispose']);
  });

  it('ends with 1 without waiting for a signal when the start fails, and with 1 when the stop fails', async () => {
    const failedStart = recordingService({ start: () => Promise.reject(new Error('no key file')) });
    expect(await runService(failedStart, { logger: silentLogger(), signal: new AbortController().signal })).toBe(1);
    expect(failedStart.calls).toEqual(['start', 'dispose']);
    const failedStop = recordingService({ dispose: () => Promise.reject(new Error('stuck')) });
    expect(await runService(failedStop, { logger: silentLogger(), signal: AbortSignal.abort('SIGTERM') })).toBe(1);
  });

  it('gives up on a drain that outlasts the drain timeout', async () => {
    const service = recordingService({ dispose: () => new Promise<void>(() => undefined) });
    const timedOut = new Promise<void>((resolve) => void runService(service, { logger: silentLogger(), signal: AbortSignal.abort('SIGTERM'), drainTimeoutMs: 10, onDrainTimeout: resolve }));
    await timedOut;
    expect(service.calls).toEqual(['start', 'dispose']);
  });

  describe('the drain deadline', () => {
    afterEach(() => void vi.useRealTimers());

    /** Runs a service whose drain takes `drainTakesMs`; resolves with whether the deadline cut it, and the exit code. */
    async function drain(service: Service, drainTakesMs: number): Promise<{ timedOut: boolean; code: number }> {
      vi.useFakeTimers();
      let timedOut = false;
      const slow: Service = {
        drainMs: service.drainMs,
        start: () => service.start(),
        [Symbol.asyncDispose]: () => new Promise<void>((resolve) => setTimeout(resolve, drainTakesMs)),
      };
      const run = runService(slow, { logger: silentLogger(), signal: AbortSignal.abort('SIGTERM'), onDrainTimeout: () => void (timedOut = true) });
      await vi.advanceTimersByTimeAsync(drainTakesMs);
      return { timedOut, code: await run };
    }

    it('follows the drain time of the service: 90 s of streams ending are waited for, not cut at 20 s', async () => {
      const result = await drain({ ...recordingService(), drainMs: 90_000 }, 90_000 + releaseAllowanceMs - 1);
      expect(result).toEqual({ timedOut: false, code: 0 });
    });

    it('still gives up once the drain outlasts the drain time of the service plus the release allowance', async () => {
      expect((await drain({ ...recordingService(), drainMs: 90_000 }, 90_000 + releaseAllowanceMs + 1)).timedOut).toBe(true);
    });

    it('gives a service without a drain time of its own 20 s', async () => {
      expect(releaseAllowanceMs).toBe(20_000);
      expect((await drain(recordingService(), 19_999)).timedOut).toBe(false);
      expect((await drain(recordingService(), 20_001)).timedOut).toBe(true);
    });
  });
});
