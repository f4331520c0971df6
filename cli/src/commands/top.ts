import type { Command } from 'commander';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext, TextSink } from '../context.js';
import { parseCount, parseDurationFlag } from '../flags.js';
import { SummaryWindow, topRows } from '../stat-aggregate.js';
import { formatTopTable } from '../stat-format.js';
import { followSummaries, parseStatTarget, type BusLoginFlags, type StatTarget } from '../stat-source.js';
import { withBusLogin } from './stat.js';

interface TopFlags extends BusLoginFlags {
  window: number;
  refresh: number;
  limit: number;
}

const examples = `
Examples:
  $ meshbus top shop
  $ meshbus top shop/web --window 30s --limit 10`;

/** Clears a terminal and moves to its top left corner. */
const clearScreen = '\x1b[2J\x1b[H';

function isTerminal(sink: TextSink): boolean {
  return (sink as { isTTY?: boolean }).isTTY === true;
}

/** `meshbus top`: a live view of the busiest routes of a namespace or workload. */
export function registerTopCommand(program: Command, context: CliContext): void {
  withBusLogin(
    program
      .command('top')
      .description("a live view of the busiest authorities and routes of a namespace or workload, from the proxies' traffic summaries on the bus")
      .argument('<target>', '<namespace> or <namespace>/<workload>', parsedBy(parseStatTarget))
      .option('--window <duration>', 'how far back the summaries are added up', parsedBy((v) => parseDurationFlag(v, '--window', { minMs: 1000, maxMs: 3_600_000 })), 60_000)
      .option('--refresh <duration>', 'how often the view is redrawn', parsedBy((v) => parseDurationFlag(v, '--refresh', { minMs: 500, maxMs: 600_000 })), 2_000)
      .option('--limit <n>', 'rows shown', parsedBy((v) => parseCount(v, '--limit', { min: 1, max: 1000 })), 20),
  )
    .addHelpText('after', examples)
    .action(async (target: StatTarget, flags: TopFlags) => {
      await runTop(target, flags, context);
    });
}

async function runTop(target: StatTarget, flags: TopFlags, context: CliContext): Promise<void> {
  const logger = createCliLogger(context.stderr);
  const window = new SummaryWindow(flags.window);
  const source = await followSummaries(target, new Date(Date.now() - flags.window), flags, context, logger, (s) => window.add(s));
  const tty = isTerminal(context.stdout);
  const what = target.workload === undefined ? target.namespace : `${target.namespace}/${target.workload}`;
  const draw = () => {
    const now = new Date();
    const rows = topRows(window.at(now.getTime()), flags.window, flags.limit);
    const heading = `${what}: busiest routes over the last ${flags.window / 1000}s, at ${now.toISOString()}${tty ? ' (Ctrl-C to stop)' : ''}\n`;
    const body = rows.length === 0 ? 'no traffic summaries yet\n' : formatTopTable(rows);
    context.stdout.write(tty ? `${clearScreen}${heading}${body}` : `${heading}${body}\n`);
  };
  try {
    draw();
    const timer = setInterval(draw, flags.refresh);
    try {
      await untilAborted(context.signal);
    } finally {
      clearInterval(timer);
    }
  } finally {
    await source.close();
  }
}
