import { describe, expect, it } from 'vitest';
import { runService, type Service } from './lifecycle.js';
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
});
