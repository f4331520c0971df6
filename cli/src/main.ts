#!/usr/bin/env node
import { CommanderError } from 'commander';
import { MeshbusError } from '@meshbus/runtime';
import { createProgram } from './program.js';

const controller = new AbortController();
let signalled = false;
const onSignal = (signal: NodeJS.Signals) => {
  // A second Ctrl-C means: stop waiting for a clean shutdown.
  if (signalled) process.exit(130);
  signalled = true;
  controller.abort(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// Output piped into a command that has quit (`meshbus events | head`): stop quietly, as other tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = createProgram({ env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has already printed the problem (or the help).
    process.exitCode = err.exitCode;
  } else {
    const text = err instanceof MeshbusError ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    process.stderr.write(`meshbus: ${text}\n`);
    process.exitCode = 1;
  }
}
