import { connectBus, StateView, type BusEvent } from '@meshbus/bus';
import { busValidator, streams } from '@meshbus/bus-schemas';
import { natsInboxPrefix } from '@meshbus/runtime';
import { createCliLogger } from './cli-logger.js';
import type { CliContext } from './context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from './dev-state.js';
import { StreamMissingError } from './errors.js';
import { ensureNatsReachable } from './nats-probe.js';

/** How a command reaching the bus was told where NATS is and how to log in. */
export interface NatsFlags {
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

/**
 * Reads the current state under each subject filter (last value per subject,
 * deleted keys left out), as the `reader` login, and disconnects. The
 * result maps each NATS subject to its newest event.
 */
export async function readState(flags: NatsFlags, context: CliContext, filters: readonly string[], name: string): Promise<Map<string, BusEvent>> {
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'reader');
  await ensureNatsReachable(url);
  const logger = createCliLogger(context.stderr);
  const nc = await connectBus({ servers: [url], name: `meshbus-cli ${name}`, inboxPrefix: natsInboxPrefix('reader'), ...login }, logger);
  const found = new Map<string, BusEvent>();
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.info(streams.state.name).catch(() => {
      throw new StreamMissingError(streams.state.name, url);
    });
    for (const filter of filters) {
      const view = new StateView({ nc, filter, validator: busValidator(), logger });
      await view.start();
      for (const event of view.values()) found.set(event.natsSubject, event);
      await view.stop();
    }
  } finally {
    await nc.close();
  }
  return found;
}
