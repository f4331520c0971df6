import type { Command } from 'commander';
import { connectBus, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator } from '@meshbus/bus-schemas';
import { natsInboxPrefix } from '@meshbus/runtime';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { collectedBy, parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { StreamMissingError } from '../errors.js';
import { eventMatcher, parseSequence, startPosition, validateTypes } from '../event-filter.js';
import { eventJson, eventTableHeader, formatEventLine } from '../event-format.js';
import { selectStreams, validateSubjectFilter } from '../event-subjects.js';
import { parseDnsLabel } from '../flags.js';
import { ensureNatsReachable } from '../nats-probe.js';

interface EventsFlags {
  subject?: string;
  replay?: boolean;
  since?: string;
  fromSeq?: number;
  type?: string[];
  namespace?: string;
  name?: string;
  json?: boolean;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

const examples = `
Examples:
  $ meshbus events
  $ meshbus events --replay --json
  $ meshbus events --since 10m --type 'io.meshbus.v1.identity.*'
  $ meshbus events --since 2026-12-01T10:00:00Z --namespace shop --name web
  $ meshbus events --subject 'meshbus.v1.events.>' --from-seq 1200
  $ meshbus events --subject 'meshbus.v1.state.endpoints.shop.>'
  $ meshbus events --subject 'meshbus.v1.metrics.shop.>' --since 5m
  $ meshbus events --subject 'meshbus.v1.events.>' --nats-url nats://10.0.0.5:4222`;

/** `meshbus events`: follows the state and event streams of the bus. */
export function registerEventsCommand(program: Command, context: CliContext): void {
  program
    .command('events')
    .description('follow the events and state snapshots on the bus (streams MESHBUS_STATE and MESHBUS_EVENTS; the traffic summaries of MESHBUS_METRICS with --subject meshbus.v1.metrics.…)')
    .option('--subject <filter>', 'NATS subject filter within meshbus.v1.state.>, meshbus.v1.events.> or meshbus.v1.metrics.> (wildcards * and > allowed; the summaries only when named)', parsedBy((v) => (validateSubjectFilter(v), v)))
    .option('--replay', 'start with everything the streams keep, then follow (default: only new messages)')
    .option('--since <when>', 'start with what was stored since a duration ago (10m, 2h, 1d) or an RFC 3339 time, then follow')
    .option('--from-seq <n>', 'start at this sequence of the stream --subject selects, then follow', parsedBy(parseSequence))
    .option('--type <type>', 'only this CloudEvents type; * matches any characters (repeatable: any of them)', collectedBy((v) => validateTypes([v])[0]!))
    .option('--namespace <namespace>', 'only events about this namespace (from the data, else the CloudEvents subject)', parsedBy((v) => parseDnsLabel(v, '--namespace')))
    .option('--name <name>', 'only events about this service, workload, pod or resource name')
    .option('--json', 'one JSON object per line (CloudEvents attributes and data) instead of a table')
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
  const from = startPosition(flags, selections, new Date());
  const keep = eventMatcher({ types: flags.type, namespace: flags.namespace, name: flags.name });
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
    if (!flags.json) context.stdout.write(eventTableHeader());
    const print = (event: BusEvent, stream: string) => {
      if (!keep(event)) return;
      context.stdout.write(flags.json ? JSON.stringify(eventJson(event, stream)) + '\n' : formatEventLine(event, stream));
    };
    for (const { stream, filter } of selections) {
      const reader = new StreamReader({
        nc,
        stream,
        filter,
        from,
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
