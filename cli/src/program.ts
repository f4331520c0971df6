import { createRequire } from 'node:module';
import { Command } from 'commander';
import { busValidator } from '@meshbus/bus-schemas';
import { registerAuthzCommand } from './commands/authz.js';
import { registerCheckCommand } from './commands/check.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerDevCommand } from './commands/dev.js';
import { registerEndpointsCommand } from './commands/endpoints.js';
import { registerEventsCommand } from './commands/events.js';
import { registerIdentityCommands } from './commands/identity.js';
import { registerInjectCommands } from './commands/inject.js';
import { registerInstallCommands } from './commands/install.js';
import { registerMulticlusterCommand } from './commands/multicluster.js';
import { registerNatsAuthCommand } from './commands/nats-auth.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerProxyCommands } from './commands/proxy.js';
import { registerRegisterCommand } from './commands/register.js';
import { registerRunCommand } from './commands/run.js';
import { registerStatCommand } from './commands/stat.js';
import { registerTapCommand } from './commands/tap.js';
import { registerTopCommand } from './commands/top.js';
import type { CliContext } from './context.js';
import { createBusTapFeed } from './dashboard/bus-tap-feed.js';
import { connectTap, tapSource } from './tap-bus.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/**
 * Builds the `meshbus` program. Commander's output goes to the context's
 * streams and its errors are thrown (exitOverride), so main.ts decides the
 * exit code.
 */
export function createProgram(context: CliContext): Command {
  const program = new Command('meshbus')
    .description('meshbus: a service mesh whose control plane runs on NATS')
    .version(version)
    .configureOutput({
      writeOut: (s) => void context.stdout.write(s),
      writeErr: (s) => void context.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDashboardCommand(program, context, {
    tap: (flags, logger) => createBusTapFeed({ connect: (onDenied) => connectTap(flags, context, logger, 'meshbus-cli dashboard tap', onDenied), validator: busValidator(), source: tapSource() }),
  });
  registerDevCommand(program, context);
  registerEndpointsCommand(program, context);
  registerEventsCommand(program, context);
  registerRegisterCommand(program, context);
  registerIdentityCommands(program, { stdout: context.stdout });
  registerInjectCommands(program, context);
  registerInstallCommands(program, context);
  registerMulticlusterCommand(program, context);
  registerNatsAuthCommand(program, context);
  registerPolicyCommand(program, context);
  registerAuthzCommand(program, context);
  registerCheckCommand(program, context);
  registerProxyCommands(program, context);
  registerRunCommand(program, context);
  registerStatCommand(program, context);
  registerTapCommand(program, context);
  registerTopCommand(program, context);
  return program;
}
