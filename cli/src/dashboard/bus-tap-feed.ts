/*
 * The dashboard's TapFeed on the bus: each page that asks runs its own tap
 * session (the same TapSession as `meshbus tap`), all on one connection as
 * the tap login, opened when the first page asks.
 */
import type { BusValidator } from '@meshbus/bus-schemas';
import { errorMessage } from '@meshbus/runtime';
import { defaultTapMaxRps, tapFilter } from '../tap-args.js';
import type { TapConnection } from '../tap-bus.js';
import { TapSession, type TapTimers } from '../tap-session.js';
import type { TapFeed, TapFeedListener, TapFilter } from './tap-feed.js';

/** Options of {@link createBusTapFeed}. */
export interface BusTapFeedOptions {
  /** Opens the connection; `onDenied` is called when the server refuses a tap subscription or request. */
  connect(onDenied: (text: string) => void): Promise<TapConnection>;
  validator: BusValidator;
  /** CloudEvents `source` of the requests. */
  source: string;
  /** @default {@link defaultTapMaxRps} */
  maxRps?: number;
  timers?: TapTimers;
}

export function createBusTapFeed(options: BusTapFeedOptions): TapFeed & AsyncDisposable {
  const listeners = new Set<TapFeedListener>();
  const sessions = new Set<Promise<TapSession | undefined>>();
  let connection: Promise<TapConnection> | undefined;
  const denied = (text: string) => {
    for (const l of listeners) l.notice(text);
  };
  const connected = () => {
    connection ??= options.connect(denied).catch((error: unknown) => {
      connection = undefined;
      throw error;
    });
    return connection;
  };
  return {
    start(filter: TapFilter, listener: TapFeedListener) {
      let stopped = false;
      listeners.add(listener);
      const running = (async () => {
        try {
          const conn = await connected();
          if (stopped) return undefined;
          const session = await TapSession.start({
            bus: conn.bus,
            validator: options.validator,
            source: options.source,
            target: { namespace: filter.namespace, workload: filter.workload },
            filter: tapFilter(filter),
            maxRps: options.maxRps ?? defaultTapMaxRps,
            ...(options.timers ? { timers: options.timers } : {}),
            listener: {
              record: (event) => listener.record(event as unknown as Record<string, unknown>),
              malformed: (subject, reason) => listener.notice(`skipped a malformed message on ${subject}: ${reason}`),
              notice: (text) => listener.notice(text),
            },
          });
          listener.notice(`tapping ${filter.namespace}/${filter.workload} (session ${session.sessionId})`);
          if (stopped) await session.stop();
          return session;
        } catch (error) {
          listener.notice(`tap failed: ${errorMessage(error)}`);
          return undefined;
        }
      })();
      sessions.add(running);
      return () => {
        if (stopped) return;
        stopped = true;
        listeners.delete(listener);
        void running.then(async (session) => {
          await session?.stop().catch(() => undefined);
          sessions.delete(running);
        });
      };
    },
    async [Symbol.asyncDispose]() {
      listeners.clear();
      for (const running of [...sessions]) {
        const session = await running;
        await session?.stop().catch(() => undefined);
      }
      sessions.clear();
      const conn = await connection?.catch(() => undefined);
      await conn?.close();
    },
  };
}
