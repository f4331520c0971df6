import { execFile } from 'node:child_process';
import { MeshbusError } from '@meshbus/core';
import type { IptablesFamily, IptablesStep } from './proxy-init.js';

/**
 * Applying rules failed. `code` says why: `NotPermitted` (not root, or no
 * CAP_NET_ADMIN), `IptablesMissing` (the command is not installed),
 * `IptablesFailed` (the command refused a rule; the message quotes it).
 */
export class IptablesError extends MeshbusError {
  override name = 'IptablesError';
  constructor(code: 'NotPermitted' | 'IptablesMissing' | 'IptablesFailed', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Which iptables the applier runs: the default `iptables`, or the nft or legacy one by name. */
export type IptablesMode = 'auto' | 'nft' | 'legacy';

/** The commands for each family in a mode. */
export function iptablesCommands(mode: IptablesMode): Record<IptablesFamily, string> {
  const suffix = mode === 'auto' ? '' : `-${mode}`;
  return { ipv4: `iptables${suffix}`, ipv6: `ip6tables${suffix}` };
}

/** How {@link applyIptablesPlan} runs. */
export interface ApplyOptions {
  /** @default 'auto' */
  readonly mode?: IptablesMode;
  /** Overrides the commands of the mode, e.g. an absolute path. */
  readonly commands?: Partial<Record<IptablesFamily, string>>;
  /** Runs each command after this prefix, e.g. `['ip', 'netns', 'exec', 'pod-a']`. @default none */
  readonly prefix?: readonly string[];
  /** Called with each command line that was run. */
  readonly onCommand?: (line: string) => void;
}

interface RunResult {
  readonly ok: boolean;
  readonly stderr: string;
  readonly missing: boolean;
}

function run(argv: readonly string[]): Promise<RunResult> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    // -w makes iptables wait for the xtables lock held by a concurrent writer instead of failing.
    execFile(file!, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve({ ok: true, stderr, missing: false });
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      resolve({ ok: false, stderr: stderr || err.message, missing });
    });
  });
}

function lockWait(args: readonly string[]): string[] {
  return ['-w', '5', ...args];
}

function failure(command: string, line: string, result: RunResult): IptablesError {
  if (result.missing) {
    return new IptablesError('IptablesMissing', `${command} was not found: install iptables (Debian: apt-get install iptables) or choose another mode (auto, nft, legacy)`);
  }
  const text = result.stderr.trim();
  if (/permission denied|you must be root|operation not permitted/i.test(text)) {
    return new IptablesError('NotPermitted', `${line}: not permitted; proxy-init must run as root or with CAP_NET_ADMIN and CAP_NET_RAW (${text})`);
  }
  return new IptablesError('IptablesFailed', `${line} failed: ${text}`);
}

/**
 * Runs a plan's steps in order and stops at the first failing one with an
 * {@link IptablesError}. A step with `unless` is skipped when its check succeeds.
 */
export async function applyIptablesPlan(plan: readonly IptablesStep[], options: ApplyOptions = {}): Promise<void> {
  const commands = { ...iptablesCommands(options.mode ?? 'auto'), ...options.commands };
  const prefix = options.prefix ?? [];
  for (const step of plan) {
    const command = commands[step.family];
    if (step.unless) {
      const check = await run([...prefix, command, ...lockWait(step.unless)]);
      if (check.missing && prefix.length === 0) throw failure(command, command, check);
      if (check.ok) continue;
    }
    const argv = [...prefix, command, ...lockWait(step.args)];
    const line = argv.join(' ');
    options.onCommand?.(line);
    const result = await run(argv);
    if (!result.ok && !step.mayFail) throw failure(command, line, result);
  }
}
