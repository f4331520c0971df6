/*
 * The NATS side of a tap session: a connection as the `tap` login (a running
 * `meshbus dev` wrote it; flags and NATS_USER override), and the TapBus a
 * TapSession runs on. A permission the server refuses is reported once, in
 * words that name the login to use.
 */
import { hostname } from 'node:os';
import { NatsError, type NatsConnection } from 'nats';
import { connectBus } from '@meshbus/bus';
import { natsInboxPrefix, type Logger } from '@meshbus/runtime';
import type { CliContext } from './context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from './dev-state.js';
import { ensureNatsReachable } from './nats-probe.js';
import type { BusLoginFlags } from './stat-source.js';
import type { TapBus } from './tap-session.js';

/** The CloudEvents source of tap requests from this machine: `/meshbus/cli/<host>`. */
export function tapSource(host: string = hostname()): string {
  const name = host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'localhost';
  return `/meshbus/cli/${name}`;
}

/** An open connection as the tap login. */
export interface TapConnection {
  readonly url: string;
  /** The NATS user, when one was given or found. */
  readonly user: string | undefined;
  readonly bus: TapBus;
  close(): Promise<void>;
}

/** Why the server refused an operation, as the user should read it. */
function deniedText(user: string | undefined, operation: string, subject: string): string {
  const who = user === undefined ? 'the NATS connection (no user)' : `NATS user ${user}`;
  return `${who} may not ${operation} ${subject}: tap needs the tap login (a running meshbus dev provides it; else pass --nats-user/--nats-password of a user with the tap role)`;
}

/** Connects as the tap login; `onDenied` is called when the server refuses a subscription or a publication. */
export async function connectTap(flags: BusLoginFlags, context: CliContext, logger: Logger, name: string, onDenied: (text: string) => void): Promise<TapConnection> {
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'tap');
  await ensureNatsReachable(url);
  const nc: NatsConnection = await connectBus({ servers: [url], name, inboxPrefix: natsInboxPrefix('tap'), ...login }, logger);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== 'error' || !(s.data instanceof NatsError) || !s.data.permissionContext) continue;
      const { operation, subject } = s.data.permissionContext;
      onDenied(deniedText(login.user, operation === 'publish' ? 'publish to' : 'subscribe to', subject));
    }
  })();
  const bus: TapBus = {
    async subscribe(subject, onMessage) {
      const sub = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) {
            onDenied(error instanceof NatsError && error.permissionContext ? deniedText(login.user, 'subscribe to', subject) : `subscription to ${subject} failed: ${error.message}`);
            return;
          }
          onMessage({ subject: msg.subject, headers: msg.headers, data: msg.data });
        },
      });
      await nc.flush();
      return sub;
    },
    async publish(subject, payload, headers) {
      nc.publish(subject, payload, { headers });
      await nc.flush();
    },
  };
  return {
    url,
    user: login.user,
    bus,
    async close() {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}
