/*
 * Where `meshbus stat` and `meshbus top` get their summaries: the
 * metrics-summary events of MESHBUS_METRICS, replayed for the window, then
 * followed live.
 */
import { connectBus, StreamReader } from '@meshbus/bus';
import { busValidator, streams, subjects, type MetricsSummary } from '@meshbus/bus-schemas';
import { isDnsLabel } from '@meshbus/core';
import { natsInboxPrefix, type Logger } from '@meshbus/runtime';
import type { NatsConnection } from 'nats';
import type { CliContext } from './context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from './dev-state.js';
import { StreamMissingError, UsageError } from './errors.js';
import { ensureNatsReachable } from './nats-probe.js';

/** The workloads a stat or top selects: a namespace, or one workload of it. */
export interface StatTarget {
  readonly namespace: string;
  readonly workload?: string;
}

/** `shop` or `shop/web` (the workload is the service account of the proxies' identity). */
export function parseStatTarget(text: string): StatTarget {
  const [namespace = '', workload, extra] = text.split('/');
  if (extra !== undefined || !isDnsLabel(namespace) || (workload !== undefined && !isDnsLabel(workload))) {
    throw new UsageError(`${JSON.stringify(text)} is not <namespace> or <namespace>/<workload> (DNS labels, such as shop/web)`);
  }
  return workload === undefined ? { namespace } : { namespace, workload };
}

export interface BusLoginFlags {
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

/** Follows the summaries of `target` from `since`; resolves once the stored ones were read. */
export async function followSummaries(
  target: StatTarget,
  since: Date,
  flags: BusLoginFlags,
  context: CliContext,
  logger: Logger,
  onSummary: (summary: MetricsSummary) => void,
): Promise<{ close(): Promise<void> }> {
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'reader');
  await ensureNatsReachable(url);
  const nc: NatsConnection = await connectBus({ servers: [url], name: 'meshbus-cli stat', inboxPrefix: natsInboxPrefix('reader'), ...login }, logger);
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.info(streams.metrics.name).catch(() => {
      throw new StreamMissingError(streams.metrics.name, url);
    });
    const reader = new StreamReader({
      nc,
      stream: streams.metrics.name,
      filter: subjects.metricsOf(target.namespace, target.workload),
      from: { time: since },
      validator: busValidator(),
      logger,
      onEvent: (event) => {
        if (event.kind === 'metricsSummary') onSummary(event.data as MetricsSummary);
      },
    });
    await reader.start();
    return {
      async close() {
        await reader.stop();
        await nc.close();
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
