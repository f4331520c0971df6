import type { Command } from 'commander';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseDurationFlag } from '../flags.js';
import { statGroupings, statRows, SummaryWindow, type StatGrouping } from '../stat-aggregate.js';
import { formatStatTable } from '../stat-format.js';
import { followSummaries, parseStatTarget, type BusLoginFlags, type StatTarget } from '../stat-source.js';

interface StatFlags extends BusLoginFlags {
  by: StatGrouping;
  window: number;
  watch?: boolean;
  json?: boolean;
  refresh: number;
}

const examples = `
Examples:
  $ meshbus stat shop
  $ meshbus stat shop/web --by route --window 5m
  $ meshbus stat shop --by service --watch`;

function parseGrouping(text: string): StatGrouping {
  if (!(statGroupings as readonly string[]).includes(text)) throw new UsageError(`--by must be one of ${statGroupings.join(', ')}, got ${JSON.stringify(text)}`);
  return text as StatGrouping;
}

/** Adds the bus login flags every summary reader takes. */
export function withBusLogin(command: Command): Command {
  return command
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the reader user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)');
}

/** `meshbus stat`: success rate, requests per second and latency percentiles from the proxies' summaries on the bus. */
export function registerStatCommand(program: Command, context: CliContext): void {
  withBusLogin(
    program
      .command('stat')
      .description("success rate, requests/s, latency percentiles and open connections of a namespace's workloads, services or routes, from the proxies' traffic summaries on the bus")
      .argument('<target>', '<namespace> or <namespace>/<workload> (the workload is the service account of its proxies)', parsedBy(parseStatTarget))
      .option('--by <grouping>', `one row per ${statGroupings.join(', ')}`, parsedBy(parseGrouping), 'workload')
      .option('--window <duration>', 'how far back the summaries are added up', parsedBy((v) => parseDurationFlag(v, '--window', { minMs: 1000, maxMs: 24 * 3_600_000 })), 60_000)
      .option('--json', 'one JSON object per row (name, proxies, requests, success, failure, tls, rps, p50, p95, p99 in ms, tcpOpen) instead of the table')
      .option('--watch', 'print the table again every --refresh, over the sliding window, until Ctrl-C')
      .option('--refresh <duration>', 'how often --watch prints', parsedBy((v) => parseDurationFlag(v, '--refresh', { minMs: 500, maxMs: 3_600_000 })), 10_000),
  )
    .addHelpText('after', examples)
    .action(async (target: StatTarget, flags: StatFlags) => {
      await runStat(target, flags, context);
    });
}

async function runStat(target: StatTarget, flags: StatFlags, context: CliContext): Promise<void> {
  const logger = createCliLogger(context.stderr);
  const window = new SummaryWindow(flags.window);
  const source = await followSummaries(target, new Date(Date.now() - flags.window), flags, context, logger, (s) => window.add(s));
  const print = () => {
    const rows = statRows(window.at(Date.now()), flags.by, flags.window, { oneWorkload: target.workload !== undefined });
    if (rows.length === 0) {
      const what = target.workload === undefined ? `namespace ${target.namespace}` : `workload ${target.namespace}/${target.workload}`;
      context.stderr.write(`no traffic summaries for ${what} in the last ${flags.window / 1000}s (proxies report every 10s by default)\n`);
    } else if (flags.json) {
      for (const row of rows) context.stdout.write(`${JSON.stringify(row, (_key, value: unknown) => (value === Infinity ? null : value))}\n`);
    } else {
      context.stdout.write(formatStatTable(rows));
    }
  };
  try {
    print();
    if (!flags.watch) return;
    const timer = setInterval(() => {
      context.stdout.write('\n');
      print();
    }, flags.refresh);
    try {
      await untilAborted(context.signal);
    } finally {
      clearInterval(timer);
    }
  } finally {
    await source.close();
  }
}
