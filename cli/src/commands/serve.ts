import { CommanderError, type Command } from 'commander';
import { servedComponents, type ServedComponent } from '@meshbus/install';
import { createLogger, runService, type Service } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { usageExitCode } from '../policy-args.js';

/** A component as its main.ts starts it: its config from the environment, then its composition root. */
interface ServiceEntry {
  configure(env: NodeJS.ProcessEnv): { readonly logLevel: string };
  create(config: never, logger: ReturnType<typeof createLogger>): Service;
}

/** Loaded on demand, so `meshbus serve gateway` does not load the other services. */
const entries: Readonly<Record<ServedComponent, () => Promise<ServiceEntry>>> = {
  destination: async () => {
    const m = await import('@meshbus/destination');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createDestinationService(config, { logger }) };
  },
  identity: async () => {
    const m = await import('@meshbus/identity');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createIdentityService(config, { logger }) };
  },
  policy: async () => {
    const m = await import('@meshbus/policy-service');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createPolicyService(config, { logger }) };
  },
  gateway: async () => {
    const m = await import('@meshbus/gateway');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createGateway(config, { logger }) };
  },
  injector: async () => {
    const m = await import('@meshbus/injector');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createInjectorService(config, { logger }) };
  },
  multicluster: async () => {
    const m = await import('@meshbus/multicluster-service');
    return { configure: (env) => m.envToConfig(env), create: (config, logger) => m.createMulticlusterService(config, { logger }) };
  },
};

/**
 * Runs one component until the CLI is signalled, as the component's own
 * main.ts does: config from the environment (a bad one exits 2), then
 * `runService` of the service host library (started, drained on SIGTERM or
 * Ctrl-C within the drain timeout). Returns the exit code.
 */
export async function serveComponent(component: ServedComponent, context: CliContext): Promise<number> {
  const entry = await entries[component]();
  let config: { readonly logLevel: string };
  try {
    config = entry.configure(context.env as NodeJS.ProcessEnv);
  } catch (err) {
    context.stderr.write(`${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service: component, msg: `invalid configuration: ${(err as Error).message}` })}\n`);
    return usageExitCode;
  }
  const logger = createLogger({ service: component, level: config.logLevel });
  return runService(entry.create(config as never, logger), { logger, signal: context.signal });
}

/** `meshbus serve <component>`: what the control-plane Deployments run. */
export function registerServeCommand(program: Command, context: CliContext): void {
  program
    .command('serve')
    .description(`run one control-plane component in this process, configured from its environment (${servedComponents.join(', ')}), until Ctrl-C or SIGTERM`)
    .argument('<component>', servedComponents.join(' | '))
    .addHelpText('after', '\nThe settings are the component\'s environment variables, see docs/services.md.\nExit codes: 0 stopped cleanly, 1 failed to start or to stop, 2 bad arguments or configuration.')
    .exitOverride((error) => {
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    })
    .action(async (component: string) => {
      if (!(servedComponents as readonly string[]).includes(component)) {
        context.stderr.write(`meshbus: serve: unknown component ${JSON.stringify(component)}; use one of ${servedComponents.join(', ')}\n`);
        throw new CommanderError(usageExitCode, 'meshbus.serve', '');
      }
      const code = await serveComponent(component as ServedComponent, context);
      if (code !== 0) throw new CommanderError(code, 'meshbus.serve', '');
    });
}
