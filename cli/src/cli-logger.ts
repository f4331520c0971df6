import { createLogger, type Logger } from '@meshbus/runtime';
import type { TextSink } from './context.js';
import { formatLogLine } from './log-format.js';

/**
 * A logger for the libraries a command uses (bus readers, connections): their
 * warnings reach the user on stderr as readable lines, not JSON.
 */
export function createCliLogger(sink: TextSink, level = 'warn'): Logger {
  return createLogger({
    service: 'meshbus-cli',
    level,
    destination: { write: (line: string) => void sink.write(formatLogLine(line.trimEnd()) + '\n') },
  });
}

/** Resolves when the signal aborts (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
