import { existsSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { CommanderError, Option, type Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { defaultControlNamespace } from '@meshbus/install';
import {
  anyFailed,
  checkReport,
  CheckTextWriter,
  ClusterReader,
  kubeHttpFor,
  natsGreeting,
  runChecks,
  selectChecks,
  type CheckContext,
  type KubeHttp,
} from '../check/index.js';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseDnsLabel, parseDurationFlag } from '../flags.js';
import { usageExitCode } from '../policy-args.js';

interface CheckFlags {
  pre?: boolean;
  proxy?: boolean;
  kubeconfig?: string;
  context?: string;
  namespace: string;
  timeout: number;
  output: 'text' | 'json';
}

const examples = `
Examples:
  $ meshbus check --pre              before installing: permissions, conflicts, Gateway API
  $ meshbus check                    the installation: CRDs, deployments, NATS, webhook, identity
  $ meshbus check --proxy -o json    and every meshed pod's proxy, as JSON

Exit code: 0 when every check passed or warned, 1 when one failed, 2 for bad flags.`;

/** The kubeconfig: --kubeconfig, else KUBECONFIG (a list of files, merged), else ~/.kube/config or in-cluster. */
export async function loadKubeConfig(options: { file?: string; context?: string; env: CliContext['env']; cwd: string }): Promise<KubeConfig> {
  // Loaded here, not at the top: every other command starts without the Kubernetes client.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  const files = options.file !== undefined ? [options.file] : (options.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  try {
    if (files.length === 0) {
      kubeConfig.loadFromDefault();
    } else {
      const found = files.map((f) => resolve(options.cwd, f)).filter((f) => options.file !== undefined || existsSync(f));
      if (found.length === 0) throw new Error(`none of the files in KUBECONFIG exists: ${files.join(delimiter)}`);
      kubeConfig.loadFromFile(found[0]!);
      for (const file of found.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kubeConfig.mergeConfig(more, true);
      }
    }
  } catch (error) {
    throw new UsageError(`cannot read the kubeconfig${options.file !== undefined ? ` ${options.file}` : ''}: ${(error as Error).message}`);
  }
  if (options.context !== undefined) {
    if (!kubeConfig.getContextObject(options.context)) {
      throw new UsageError(`--context ${options.context} is not in the kubeconfig (contexts: ${kubeConfig.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kubeConfig.setCurrentContext(options.context);
  }
  if (!kubeConfig.getCurrentCluster()) throw new UsageError('the kubeconfig has no current context with a cluster; pass --context');
  return kubeConfig;
}

/** Runs the selected checks against `http` and prints them; true when none failed. */
export async function runClusterChecks(http: KubeHttp, flags: CheckFlags, cli: Pick<CliContext, 'stdout' | 'signal'>, overrides: Partial<CheckContext> = {}): Promise<boolean> {
  const context: CheckContext = {
    cluster: new ClusterReader(http),
    namespace: flags.namespace,
    now: () => new Date(),
    natsGreeting,
    ...overrides,
  };
  const writer = flags.output === 'text' ? new CheckTextWriter((t) => cli.stdout.write(t)) : undefined;
  const results = await runChecks(selectChecks({ pre: flags.pre === true, proxy: flags.proxy === true }), context, {
    timeoutMs: flags.timeout,
    signal: cli.signal,
    ...(writer ? { onResult: (r) => writer.result(r) } : {}),
  });
  if (writer) writer.summary(results);
  else cli.stdout.write(`${JSON.stringify(checkReport(results), null, 2)}\n`);
  return !anyFailed(results);
}

/** `meshbus check [--pre] [--proxy]`: verifies a cluster before or after installing meshbus. */
export function registerCheckCommand(program: Command, context: CliContext): void {
  program
    .command('check')
    .description('check a Kubernetes cluster before installing meshbus (--pre), or a running installation')
    .option('--pre', 'check that meshbus can be installed: permissions, conflicts, Gateway API CRDs')
    .option('--proxy', "also check every meshed pod's proxy: version, readiness, trust anchors")
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: its current context)')
    .addOption(new Option('-n, --namespace <namespace>', 'the control namespace').argParser(parsedBy((v) => parseDnsLabel(v, 'namespace'))).default(defaultControlNamespace))
    .addOption(
      new Option('--timeout <duration>', 'longest wait for each check (and each request it makes)')
        .argParser(parsedBy((v) => parseDurationFlag(v, '--timeout', { minMs: 100, maxMs: 600_000 })))
        .default(5000, '5s'),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', examples)
    .exitOverride((error) => {
      // A bad flag is a usage error: 2; a failed check is 1.
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    })
    .action(async (flags: CheckFlags, command: Command) => {
      if (flags.pre === true && flags.proxy === true) command.error('error: --pre checks a cluster before installing, --proxy an installation: give one of them', { exitCode: usageExitCode });
      let http: KubeHttp;
      try {
        http = kubeHttpFor(await loadKubeConfig({ ...(flags.kubeconfig !== undefined ? { file: flags.kubeconfig } : {}), ...(flags.context !== undefined ? { context: flags.context } : {}), env: context.env, cwd: context.cwd }));
      } catch (error) {
        command.error(`error: ${(error as Error).message}`, { exitCode: usageExitCode, code: 'meshbus.check.kubeconfig' });
      }
      const ok = await runClusterChecks(http, flags, context);
      if (!ok) throw new CommanderError(1, 'meshbus.check.failed', '');
    });
}
