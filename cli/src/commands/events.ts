import type { Command } from 'commander';
import { connectBus, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator } from '@meshbus/bus-schemas';
import { natsInboxPrefix } from '@meshbus/runtime';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { StreamMissingError } from '../errors.js';
import { eventJson, formatEventLine } from '../event-format.js';
import { selectStreams, validateSubjectFilter } from '../event-subjects.js';
import { ensureNatsReachable } from '../nats-probe.js';

interface EventsFlags {
  subject?: string;
  replay?: boolean;
  json?: boolean;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

const examples = `
Examples:
  $ meshbus events
  $ meshbus events --replay --json
  $ meshbus events --subject 'meshbus.v1.state.endpoints.shop.>'
  $ meshbus events --subject 'meshbus.v1.events.>' --nats-url nats://10.0.0.5:4222`;

/** `meshbus events`: follows the state and event streams of the bus. */
export function registerEventsCommand(program: Command, context: CliContext): void {
  program
    .command('events')
    .description('follow the events and state snapshots on the bus (streams MESHBUS_STATE and MESHBUS_EVENTS)')
    .option('--subject <filter>', 'NATS subject filter within meshbus.v1.state.> or meshbus.v1.events.> (wildcards * and > allowed)', parsedBy((v) => (validateSubjectFilter(v), v)))
    .option('--replay', 'start with everything the streams keep, then follow (default: only new messages)')
    .option('--json', 'one JSON object per line: CloudEvents attributes and data')
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the reader user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .action(async (flags: EventsFlags) => {
      await runEvents(flags, context);
    });
}

async function runEvents(flags: EventsFlags, context: CliContext): Promise<void> {
  const selections = selectStreams(flags.subject);
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'reader');
  await ensureNatsReachable(url);
  const logger = createCliLogger(context.stderr);
  const nc = await connectBus({ servers: [url], name: 'meshbus-cli events', inboxPrefix: natsInboxPrefix('reader'), ...login }, logger);
  const readers: StreamReader[] = [];
  try {
    const jsm = await nc.jetstreamManager();
    for (const { stream } of selections) {
      await jsm.streams.info(stream).catch(() => {
        throw new StreamMissingError(stream, url);
      });
    }
    const print = (event: BusEvent, stream: string) =>
      context.stdout.write(flags.json ? JSON.stringify(eventJson(event, stream)) + '\n' : formatEventLine(event));
    for (const { stream, filter } of selections) {
      const reader = new StreamReader({
        nc,
        stream,
        filter,
        from: flags.replay ? 'all' : 'new',
        validator: busValidator(),
        logger,
        onEvent: (event) => print(event, stream),
      });
      readers.push(reader);
      await reader.start();
    }
    const what = selections.map((s) => `${s.filter} (${s.stream})`).join(', ');
    context.stderr.write(`following ${what} on ${url}; Ctrl-C to stop\n`);
    await untilAborted(context.signal);
  } finally {
    for (const r of readers) await r.stop();
    await nc.close();
  }
}
