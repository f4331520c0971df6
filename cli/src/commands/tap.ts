import { CommanderError, type Command } from 'commander';
import { busValidator } from '@meshbus/bus-schemas';
import { errorMessage } from '@meshbus/runtime';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import type { CliContext } from '../context.js';
import { TapRefusedError } from '../errors.js';
import { strictlyParsedBy, usageExitCode } from '../policy-args.js';
import type { BusLoginFlags } from '../stat-source.js';
import { defaultTapMaxRps, parseTapAuthority, parseTapDuration, parseTapMaxRps, parseTapMethod, parseTapPath, parseTapTarget, tapFilter, type TapTarget } from '../tap-args.js';
import { connectTap, tapSource } from '../tap-bus.js';
import { formatTapJson, formatTapLine, tapTableHeader } from '../tap-format.js';
import { TapSession } from '../tap-session.js';

interface TapFlags extends BusLoginFlags {
  path?: string;
  method?: string;
  authority?: string;
  maxRps: number;
  duration?: number;
  json?: boolean;
}

const examples = `
Examples:
  $ meshbus tap shop/web
  $ meshbus tap shop/web --path /api/ --method GET
  $ meshbus tap shop/web --authority web.shop.svc.cluster.local:80 --max-rps 50 --duration 30s --json`;

/** `meshbus tap`: live request metadata from the proxies of one workload. */
export function registerTapCommand(program: Command, context: CliContext): void {
  program
    .command('tap')
    .description('show the requests the proxies of one workload see, live (metadata only: method, authority, path, status, latency, identities, TLS)')
    .argument('<target>', '<namespace>/<workload> (the workload is the service account of its proxies)', strictlyParsedBy(parseTapTarget))
    .option('--path <prefix>', 'only requests whose path starts with this', strictlyParsedBy(parseTapPath))
    .option('--method <method>', 'only requests with this HTTP method', strictlyParsedBy(parseTapMethod))
    .option('--authority <authority>', 'only requests for this authority (host or host:port, any case)', strictlyParsedBy(parseTapAuthority))
    .option('--max-rps <n>', 'records per second per proxy, at most (1 to 100); the proxies drop the rest', strictlyParsedBy(parseTapMaxRps), defaultTapMaxRps)
    .option('--duration <duration>', 'stop by itself after this long (1s to 24h; default: until Ctrl-C)', strictlyParsedBy(parseTapDuration))
    .option('--json', 'one JSON object per line (the tap-event data) instead of the table')
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the tap user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .exitOverride((error) => {
      // A bad argument or flag is a usage error: 2, before anything is asked of the bus.
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    })
    .action(async (target: TapTarget, flags: TapFlags) => {
      await runTap(target, flags, context);
    });
}

async function runTap(target: TapTarget, flags: TapFlags, context: CliContext): Promise<void> {
  const logger = createCliLogger(context.stderr);
  const done = new AbortController();
  const finish = () => done.abort();
  let refused: string | undefined;
  const conn = await connectTap(flags, context, logger, 'meshbus-cli tap', (text) => {
    refused ??= text;
    finish();
  });
  context.signal.addEventListener('abort', finish, { once: true });
  if (context.signal.aborted) finish();
  let session: TapSession | undefined;
  let timer: NodeJS.Timeout | undefined;
  let headed = false;
  const printHeader = () => {
    if (!headed) context.stdout.write(tapTableHeader());
    headed = true;
  };
  try {
    session = await TapSession.start({
      bus: conn.bus,
      validator: busValidator(),
      source: tapSource(),
      target,
      filter: tapFilter(flags),
      maxRps: flags.maxRps,
      listener: {
        record: (event) => {
          if (flags.json) return void context.stdout.write(formatTapJson(event));
          printHeader();
          context.stdout.write(formatTapLine(event));
        },
        malformed: (subject, reason) => void context.stderr.write(`meshbus tap: skipped a malformed message on ${subject}: ${reason}\n`),
        notice: (text) => void context.stderr.write(`meshbus tap: ${text}\n`),
      },
    });
    const until = flags.duration === undefined ? 'Ctrl-C to stop' : `for ${flags.duration / 1000}s (Ctrl-C to stop sooner)`;
    // A refused subscription or request is reported by the server right after it; let that arrive first.
    await new Promise((resolve) => setImmediate(resolve));
    if (refused === undefined) {
      context.stderr.write(`tapping ${target.namespace}/${target.workload} (session ${session.sessionId}) on ${conn.url}; ${until}\n`);
      if (!flags.json) printHeader();
    }
    if (flags.duration !== undefined) timer = setTimeout(finish, flags.duration);
    await untilAborted(done.signal);
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', finish);
    await session?.stop().catch((error: unknown) => void context.stderr.write(`meshbus tap: could not send stop (the session ends by itself at its expiry): ${errorMessage(error)}\n`));
    await conn.close();
  }
  if (refused !== undefined) throw new TapRefusedError(refused);
  context.stderr.write(`tap stopped after ${session.records} record${session.records === 1 ? '' : 's'}\n`);
}
