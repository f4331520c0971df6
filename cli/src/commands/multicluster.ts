import { randomBytes } from 'node:crypto';
import { CommanderError, type Command } from 'commander';
import type { NatsConnection } from 'nats';
import { connectBus, StateView } from '@meshbus/bus';
import { busValidator, streams, subjects, type EventDataMap } from '@meshbus/bus-schemas';
import { clusterNameRule, isClusterName } from '@meshbus/core';
import { linkStreamName } from '@meshbus/local-nats';
import { natsInboxPrefix, type Logger } from '@meshbus/runtime';
import { createCliLogger } from '../cli-logger.js';
import type { CliContext } from '../context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { UsageError } from '../errors.js';
import {
  clusterOfLinkStream,
  formatGateways,
  formatLinkCheck,
  formatLinkPlan,
  formatUnlinkPlan,
  linkIsLive,
  linkPlan,
  type GatewayRow,
  type LinkCheckRow,
} from '../multicluster-format.js';
import { ensureNatsReachable } from '../nats-probe.js';
import { usageExitCode } from '../policy-args.js';
import { withBusLogin } from './stat.js';

interface BusFlags {
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

interface LinkFlags {
  name?: string;
  local?: string;
  leafnodeUrl?: string;
  password?: string;
  leafnodeCa?: string;
  leafnodeCert?: string;
  leafnodeKey?: string;
  leafnodeClientCert?: string;
  leafnodeClientKey?: string;
  leafnodeClientCa?: string;
  json?: boolean;
}

const examples = `
Examples:
  $ meshbus multicluster link --name east --local west --leafnode-url tls://nats.east.example:7422 \\
      --leafnode-cert /etc/nats/leaf/tls.crt --leafnode-key /etc/nats/leaf/tls.key --leafnode-ca /etc/nats/east-ca.crt
  $ meshbus multicluster check
  $ meshbus multicluster gateways
  $ meshbus multicluster unlink --name east --yes --nats-user admin`;

function clusterName(text: string | undefined, flag: string): string {
  if (text === undefined) throw new UsageError(`${flag} is required`);
  if (!isClusterName(text)) throw new UsageError(`${flag} ${JSON.stringify(text)} must be a cluster name: ${clusterNameRule}`);
  return text;
}

/** Runs an action; a UsageError exits 2, like a bad flag. */
function usage(command: Command, run: () => Promise<void>): Promise<void> {
  return run().catch((error: unknown) => {
    if (error instanceof UsageError) command.error(`error: ${error.message}`, { exitCode: usageExitCode, code: 'meshbus.multicluster.usage' });
    throw error;
  });
}

async function connectLocal(flags: BusFlags, context: CliContext, logger: Logger, name: string): Promise<NatsConnection> {
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'reader');
  await ensureNatsReachable(url);
  return connectBus({ servers: [url], name: `meshbus-cli multicluster ${name}`, inboxPrefix: natsInboxPrefix('reader'), ...login }, logger);
}

/** The last value per subject under `filter` in `stream`. */
async function readLatest(nc: NatsConnection, stream: string, filter: string, logger: Logger): Promise<{ data: unknown; time: string }[]> {
  const view = new StateView({ nc, stream, filter, validator: busValidator(), logger });
  await view.start();
  try {
    return [...view.values()].map((e) => ({ data: e.data, time: e.time }));
  } finally {
    await view.stop();
  }
}

async function linkStreams(nc: NatsConnection): Promise<string[]> {
  const jsm = await nc.jetstreamManager();
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (clusterOfLinkStream(name) !== undefined) names.push(name);
  return names.sort();
}

async function checkRows(nc: NatsConnection, logger: Logger, now: () => number): Promise<LinkCheckRow[]> {
  const jsm = await nc.jetstreamManager();
  const mirrors = (await readLatest(nc, streams.state.name, subjects.allMirroredServices, logger)).map((m) => m.data as EventDataMap['mirroredService']);
  const rows: LinkCheckRow[] = [];
  for (const stream of await linkStreams(nc)) {
    const cluster = clusterOfLinkStream(stream)!;
    const event = await jsm.streams.getMessage(streams.events.name, { last_by_subj: subjects.linkChanged(cluster) }).catch(() => undefined);
    const changed = event && event.data.length > 0 ? (JSON.parse(new TextDecoder().decode(event.data)) as EventDataMap['linkChanged']) : undefined;
    const beat = await jsm.streams.getMessage(stream, { last_by_subj: subjects.clusterGateway(cluster) }).catch(() => undefined);
    let source: Pick<LinkCheckRow, 'sourceLag' | 'sourceActiveMs' | 'sourceError'> = {};
    try {
      const info = await jsm.streams.info(stream);
      const s = info.sources?.[0];
      if (s) source = s.error ? { sourceError: s.error.description } : { sourceLag: s.lag, ...(s.active >= 0 ? { sourceActiveMs: s.active / 1e6 } : {}) };
    } catch (error) {
      source = { sourceError: (error as Error).message };
    }
    const mine = mirrors.filter((m) => m.cluster === cluster);
    rows.push({
      cluster,
      health: changed?.health ?? 'unknown',
      // A heartbeat stored while this ran is new, not from the future.
      ...(beat ? { heartbeatAgeMs: Math.max(0, now() - beat.time.getTime()) } : {}),
      mirrored: mine.length,
      ready: mine.filter((m) => m.ready).length,
      ...source,
      ...(changed?.reason ? { reason: changed.reason } : {}),
    });
  }
  return rows;
}

async function gatewayRows(nc: NatsConnection, logger: Logger, now: () => number): Promise<GatewayRow[]> {
  const rows: GatewayRow[] = [];
  const add = (seenIn: string, beats: { data: unknown; time: string }[]) => {
    for (const b of beats) {
      const d = b.data as EventDataMap['clusterGateway'];
      rows.push({ cluster: d.cluster, seenIn, addresses: d.addresses, identity: d.identity, ageMs: Math.max(0, now() - Date.parse(b.time)) });
    }
  };
  add('local', await readLatest(nc, streams.exports.name, subjects.allClusterGateways, logger).catch(() => []));
  for (const stream of await linkStreams(nc)) add(stream, await readLatest(nc, stream, subjects.allClusterGateways, logger));
  return rows;
}

/** `meshbus multicluster`: link two clusters' buses, and look at the links. */
export function registerMulticlusterCommand(program: Command, context: CliContext): void {
  const mc = program
    .command('multicluster')
    .description('link this cluster to another one (leaf node, link login, link stream) and look at the links')
    .addHelpText('after', examples);
  const strict = (c: Command) =>
    c.exitOverride((error) => {
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    });

  strict(
    mc
      .command('link')
      .description("print the configuration that makes --local mirror what --name exports: the link login and leaf node listener on --name's NATS, the leaf node connection on --local's, the multicluster setting")
      .option('--name <cluster>', 'the cluster to link to (exporting)')
      .option('--local <cluster>', 'this cluster (mirroring)')
      .option('--leafnode-url <url>', "nats-leaf://<host>:<port> of --name's leaf node listener, as this cluster reaches it")
      .option('--password <password>', 'password of the link login (default: a random one)')
      .option('--leafnode-ca <file>', "TLS: the CA file --local's nats-server checks the listener's certificate with (an absolute path on that server)")
      .option('--leafnode-cert <file>', "TLS: the certificate file --name's leaf node listener serves; it must name the URL's host")
      .option('--leafnode-key <file>', "TLS: the key file of --leafnode-cert")
      .option('--leafnode-client-cert <file>', "TLS: a certificate file --local's nats-server presents to the listener (optional)")
      .option('--leafnode-client-key <file>', 'TLS: the key file of --leafnode-client-cert')
      .option('--leafnode-client-ca <file>', "TLS: the CA file the listener checks --leafnode-client-cert with (it then requires one)")
      .option('--json', 'the pieces as one JSON object'),
  ).action((flags: LinkFlags, command: Command) =>
    usage(command, async () => {
      const remote = clusterName(flags.name, '--name');
      const local = clusterName(flags.local, '--local');
      if (flags.leafnodeUrl === undefined) throw new UsageError('--leafnode-url is required');
      const tls = {
        caFile: flags.leafnodeCa,
        certFile: flags.leafnodeCert,
        keyFile: flags.leafnodeKey,
        clientCertFile: flags.leafnodeClientCert,
        clientKeyFile: flags.leafnodeClientKey,
        clientCaFile: flags.leafnodeClientCa,
      };
      const plan = linkPlan({ remote, local, leafnodeUrl: flags.leafnodeUrl, password: flags.password ?? randomBytes(24).toString('base64url'), tls });
      context.stdout.write(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : formatLinkPlan(plan));
    }),
  );

  strict(
    withBusLogin(
      mc
        .command('unlink')
        .description('delete the link stream of --name on this bus (with --yes; needs a login that may delete streams) and print what to remove from the configurations')
        .option('--name <cluster>', 'the linked cluster')
        .option('--local <cluster>', 'this cluster, to name its link login in the printed steps')
        .option('--yes', 'delete the stream; without it nothing is changed'),
    ),
  ).action((flags: BusFlags & { name?: string; local?: string; yes?: boolean }, command: Command) =>
    usage(command, async () => {
      const remote = clusterName(flags.name, '--name');
      const local = flags.local === undefined ? undefined : clusterName(flags.local, '--local');
      const stream = linkStreamName(remote);
      if (flags.yes) {
        const logger = createCliLogger(context.stderr);
        const nc = await connectLocal(flags, context, logger, 'unlink');
        try {
          const jsm = await nc.jetstreamManager();
          await jsm.streams.delete(stream).catch((error: unknown) => {
            const text = (error as Error).message;
            throw new UsageError(/not found/i.test(text) ? `there is no stream ${stream} on this bus` : `could not delete ${stream}: ${text} (give --nats-user a login that may delete streams)`);
          });
        } finally {
          await nc.close();
        }
      }
      context.stdout.write(formatUnlinkPlan(local, remote, stream, flags.yes === true));
    }),
  );

  strict(withBusLogin(mc.command('check').description('health of each linked cluster: last link event, heartbeat age, mirrors, link stream source; exits 1 when a link is not live').option('--json', 'one JSON object per link'))).action(
    (flags: BusFlags & { json?: boolean }, command: Command) =>
      usage(command, async () => {
        const logger = createCliLogger(context.stderr);
        const nc = await connectLocal(flags, context, logger, 'check');
        let rows: LinkCheckRow[];
        try {
          rows = await checkRows(nc, logger, Date.now);
        } finally {
          await nc.close();
        }
        if (flags.json) for (const r of rows) context.stdout.write(`${JSON.stringify(r)}\n`);
        else context.stdout.write(formatLinkCheck(rows));
        const down = rows.filter((r) => !linkIsLive(r));
        for (const r of down) context.stderr.write(`link to ${r.cluster} is ${r.health}${r.reason ? `: ${r.reason}` : ''}\n`);
        if (down.length > 0) throw new CommanderError(1, 'meshbus.multicluster.down', '');
      }),
  );

  strict(withBusLogin(mc.command('gateways').description("the gateway heartbeats on this bus: this cluster's own (MESHBUS_EXPORTS) and each linked cluster's").option('--json', 'one JSON object per heartbeat'))).action(
    (flags: BusFlags & { json?: boolean }, command: Command) =>
      usage(command, async () => {
        const logger = createCliLogger(context.stderr);
        const nc = await connectLocal(flags, context, logger, 'gateways');
        let rows: GatewayRow[];
        try {
          rows = await gatewayRows(nc, logger, Date.now);
        } finally {
          await nc.close();
        }
        if (flags.json) for (const r of rows) context.stdout.write(`${JSON.stringify(r)}\n`);
        else context.stdout.write(formatGateways(rows));
      }),
  );
}
