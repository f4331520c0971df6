import { isIP } from 'node:net';
import type { Command } from 'commander';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import type { Logger } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { followBus } from '../dashboard/bus-feed.js';
import { startDashboardServer } from '../dashboard/server.js';
import type { TapFeed } from '../dashboard/tap-feed.js';
import { DashboardState } from '../dashboard/view-model.js';
import { UsageError } from '../errors.js';
import { parsePort } from '../flags.js';
import { strictlyParsedBy } from '../policy-args.js';
import type { BusLoginFlags } from '../stat-source.js';
import { withBusLogin } from './stat.js';

interface DashboardFlags extends BusLoginFlags {
  port: number;
  address: string;
}

const examples = `
Examples:
  $ meshbus dashboard
  $ meshbus dashboard --port 8090
  $ meshbus dashboard --nats-url nats://10.0.0.5:4222 --nats-user reader --nats-password ...`;

function parseAddress(text: string): string {
  if (isIP(text) === 0) throw new UsageError(`--address ${JSON.stringify(text)} must be an IP address, such as 127.0.0.1`);
  return text;
}

/** `meshbus dashboard`: a local web page of the mesh, live from the bus. */
/** Changes arriving within this long go to the page in one push: a burst of state (a first read, a big edit) is drawn once, and one change still shows well within a second. */
const pushCoalesceMs = 30;

/** Makes the dashboard's tap feed from its bus flags, once the command runs. */
export type TapFeedFactory = (flags: BusLoginFlags, logger: Logger) => TapFeed & AsyncDisposable;

export function registerDashboardCommand(program: Command, context: CliContext, options: { tap?: TapFeedFactory } = {}): void {
  withBusLogin(
    program
      .command('dashboard')
      .description('serve a local web page of the services, endpoints, golden metrics, policies and events, live from the bus')
      .option('--port <port>', 'HTTP port', strictlyParsedBy((v) => (v === '0' ? 0 : parsePort(v, '--port'))), 50750)
      .option('--address <ip>', 'address to listen on (other addresses than loopback expose the mesh state to the network)', strictlyParsedBy(parseAddress), '127.0.0.1'),
  )
    .addHelpText('after', examples)
    .action(async (flags: DashboardFlags) => {
      const logger = createCliLogger(context.stderr);
      const state = new DashboardState();
      let server: Awaited<ReturnType<typeof startDashboardServer>> | undefined;
      let pending: NodeJS.Timeout | undefined;
      const changed = () => {
        pending ??= setTimeout(() => {
          pending = undefined;
          server?.push();
        }, pushCoalesceMs);
      };
      const bus = await followBus(state, flags, context, logger, changed);
      const tap = options.tap?.(flags, logger);
      try {
        server = await startDashboardServer({ address: flags.address, port: flags.port, tap, view: () => state.view(Date.now(), { tapAvailable: tap !== undefined }) });
        const tick = setInterval(() => server?.push(), 2_000);
        context.stdout.write(`dashboard on ${server.url} (bus ${bus.url}); Ctrl-C to stop\n`);
        try {
          await untilAborted(context.signal);
        } finally {
          clearInterval(tick);
          clearTimeout(pending);
          await server[Symbol.asyncDispose]();
        }
      } finally {
        await tap?.[Symbol.asyncDispose]();
        await bus.close();
      }
    });
}
