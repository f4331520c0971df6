/** Somewhere a command writes text: stdout, stderr, or a buffer in tests. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * What a command may use of the process it runs in. main.ts builds it; nothing
 * else reads the environment, the arguments or installs signal handlers.
 */
export interface CliContext {
  env: Readonly<Record<string, string | undefined>>;
  /** Directory the command was started in; `.meshbus/dev.json` is looked up here. */
  cwd: string;
  stdout: TextSink;
  stderr: TextSink;
  /** Aborted on the first Ctrl-C or SIGTERM: long-running commands stop cleanly. */
  signal: AbortSignal;
}
