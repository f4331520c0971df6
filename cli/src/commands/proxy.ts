import { CommanderError, type Command } from 'commander';
import { runProxyInit, runProxyProcess } from '@meshbus/proxy';
import type { CliContext } from '../context.js';
import { usageExitCode } from '../policy-args.js';

/**
 * `meshbus proxy-init` and `meshbus proxy`: the proxy's two processes, run
 * from the CLI. Both end with their own exit code (docs/cli.md).
 */
export function registerProxyCommands(program: Command, context: CliContext): void {
  program
    .command('proxy-init')
    .description('write (or --remove) the iptables rules that send a pod\'s TCP through its proxy; proxy-init --help lists the flags')
    .argument('[flags...]', 'the flags of proxy-init')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (flags: string[]) => {
      const code = await runProxyInit(flags, context.env, {
        stdout: (text) => void context.stdout.write(text),
        stderr: (text) => void context.stderr.write(text),
      });
      endWith(code, 'meshbus.proxyInit');
    });

  program
    .command('proxy')
    .description('run the data-plane proxy in this process, configured from the MESHBUS_PROXY_* environment, until Ctrl-C or SIGTERM')
    .addHelpText('after', '\nThe settings are the proxy\'s environment variables, see docs/proxy.md.\nExit codes: 0 stopped cleanly, 1 failed to start or to stop, 2 bad arguments or configuration.')
    .exitOverride((error) => {
      // An unknown flag or argument is a usage error: 2, before anything starts.
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    })
    .action(async () => {
      const code = await runProxyProcess(context.env, { stderr: (text) => void context.stderr.write(text), signal: context.signal });
      endWith(code, 'meshbus.proxy');
    });
}

/** A non-zero exit code travels to main.ts as a CommanderError that prints nothing. */
function endWith(code: number, name: string): void {
  if (code !== 0) throw new CommanderError(code, name, '');
}
