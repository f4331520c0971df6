import { fileURLToPath } from 'node:url';
import { startProcess, type RunningProcess } from '@meshbus/testing';

/** Path of the built CLI entry point. */
export const cliMain: string = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/**
 * For integration tests: runs the built CLI in `cwd` with an environment
 * that points nowhere by default (no NATS_URL), capturing its output.
 */
export function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): RunningProcess {
  const { NATS_URL: _ignored, ...env } = process.env;
  return startProcess({ command: process.execPath, args: [cliMain, ...args], cwd: options.cwd, env: { ...env, ...options.env } });
}

/** The output lines that are JSON objects, parsed. */
export function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
