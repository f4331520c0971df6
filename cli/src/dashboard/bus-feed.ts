/*
 * What the dashboard reads from the bus: the whole state stream (a
 * StateView), and the events and metrics streams from a few minutes back
 * (the last events, the traffic summaries), followed live.
 */
import { connectBus, StateView, StreamReader } from '@meshbus/bus';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { natsInboxPrefix, type Logger } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { StreamMissingError } from '../errors.js';
import { ensureNatsReachable } from '../nats-probe.js';
import type { BusLoginFlags } from '../stat-source.js';
import type { DashboardState } from './view-model.js';

/** Fills `state` from the bus, as the reader login; `changed` is called after every change. Resolves once the stored state was read. */
export async function followBus(
  state: DashboardState,
  flags: BusLoginFlags,
  context: CliContext,
  logger: Logger,
  changed: () => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'reader');
  await ensureNatsReachable(url);
  const nc = await connectBus({ servers: [url], name: 'meshbus-cli dashboard', inboxPrefix: natsInboxPrefix('reader'), ...login }, logger);
  const stops: (() => Promise<void>)[] = [];
  try {
    const jsm = await nc.jetstreamManager();
    for (const stream of [streams.state.name, streams.events.name, streams.metrics.name]) {
      await jsm.streams.info(stream).catch(() => {
        throw new StreamMissingError(stream, url);
      });
    }
    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator: busValidator(),
      logger,
      onChange: (subject, value) => {
        state.applyState(subject, value);
        changed();
      },
    });
    await view.start();
    stops.push(() => view.stop());
    state.resetState(view.values());
    const since = new Date(Date.now() - state.limits.historyMs);
    for (const [stream, filter] of [
      [streams.events.name, subjects.allEvents],
      [streams.metrics.name, subjects.allMetrics],
    ] as const) {
      const reader = new StreamReader({
        nc,
        stream,
        filter,
        from: { time: since },
        validator: busValidator(),
        logger,
        onEvent: (event) => {
          state.addEvent(event);
          changed();
        },
      });
      await reader.start();
      stops.push(() => reader.stop());
    }
    return {
      url,
      async close() {
        for (const stop of stops.reverse()) await stop();
        await nc.close();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    await nc.close();
    throw error;
  }
}
