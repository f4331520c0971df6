import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { defaultStateDir } from '../dev-state.js';
import { DevMesh } from '../dev/dev-mesh.js';
import { LinkedDevMeshes } from '../dev/linked-meshes.js';
import { planDevTopology } from '../dev/plan.js';
import { parseCount, parseDurationFlag, parsePort } from '../flags.js';
import { repoRoot } from '../paths.js';
import { usageExitCode } from '../policy-args.js';

interface DevFlags {
  manifests?: string;
  replicas?: number;
  ha?: boolean;
  clusters: number;
  natsUrl?: string;
  gatewayPort: number;
  stateDir: string;
  logLevel: string;
  json?: boolean;
  readyTimeout: number;
}

const examples = `
Examples:
  $ npm run dev
  $ npm run dev -- --ha
  $ npm run dev -- --clusters 2
  $ meshbus dev --replicas 2 --log-level debug
  $ meshbus dev --json | jq -R 'fromjson? | select(.level == "warn")'
  $ meshbus dev --manifests ./my-mesh --nats-url nats://127.0.0.1:4222

With --ha it runs what compose-dev/compose.yaml runs: a cluster of 3 nats-servers
keeping every stream on all three, and 2 replicas of every service.

With --clusters 2 it runs two linked meshes, west and east, each with its own
nats-server (JetStream domain west or east), store, manifests folder
(<state-dir>/west, <state-dir>/east) and control plane, including the
multicluster service; one trust anchor for both. West's nats-server connects
to east's as a leaf node with the login link-west; east runs a multicluster
gateway and exports web.shop, which west mirrors as web-east.shop. The other
commands talk to west. It does not combine with --ha, --nats-url or --manifests.

It starts nats-server (unless --nats-url or NATS_URL is given), then destination,
gateway and identity (when built) as separate processes, waits until each answers
/ready, prints the addresses, and writes <state-dir>/dev.json so that the other
commands find NATS and the gateways. A process that dies is started again after
1s. Ctrl-C stops everything.`;

/** `meshbus dev`: the whole mesh on this machine, behind `npm run dev`. */
export function registerDevCommand(program: Command, context: CliContext): void {
  program
    .command('dev')
    .description('run the mesh locally: nats-server and every control-plane service as separate processes')
    .option('--manifests <dir>', 'folder of mesh manifests (default: <state-dir>/manifests, copied from examples/manifests on first run)')
    .addOption(new Option('--replicas <n>', 'replicas of each service (default: 1, 2 with --ha)').argParser(parsedBy((v) => parseCount(v, '--replicas', { min: 1, max: 9 }))))
    .option('--ha', 'a cluster of 3 nats-servers (every stream on all three) and 2 replicas of every service, as compose-dev/ runs')
    .addOption(
      new Option('--clusters <n>', 'how many linked meshes: 1, or 2 (west and east, see docs/multicluster.md)')
        .argParser(parsedBy((v) => parseCount(v, '--clusters', { min: 1, max: 2 })))
        .default(1),
    )
    .option('--nats-url <url>', 'use this NATS instead of starting nats-server (default: NATS_URL)')
    .addOption(
      new Option('--gateway-port <port>', 'gRPC port of the first gateway; replica i asks for port + i - 1, a busy port is replaced by a free one')
        .argParser(parsedBy((v) => parsePort(v, '--gateway-port')))
        .default(8086),
    )
    .addOption(new Option('--state-dir <dir>', 'folder for the NATS store, trust material, manifests and dev.json').default(defaultStateDir))
    .addOption(new Option('--log-level <level>', 'MESHBUS_LOG_LEVEL of the services').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .option('--json', 'print the services\' log records as the JSON lines they write, instead of one readable line each')
    .addOption(
      new Option('--ready-timeout <duration>', 'how long every process may take to answer /ready')
        .argParser(parsedBy((v) => parseDurationFlag(v, '--ready-timeout', { minMs: 1000 })))
        .default(60_000, '60s'),
    )
    .addHelpText('after', examples)
    .action(async (flags: DevFlags, command: Command) => {
      // Bad combinations of flags end like commander's own usage errors: a message and exit code 2.
      const usage = (message: string): never => command.error(`error: ${message}`, { exitCode: usageExitCode, code: 'meshbus.dev.usage' });
      await runDev(flags, context, usage);
    });
}

async function runDev(flags: DevFlags, context: CliContext, usage: (message: string) => never): Promise<void> {
  const ha = flags.ha ?? false;
  const topology = planDevTopology({ ha, replicas: flags.replicas });
  const replicas = topology.replicas.destination ?? 1;
  const natsUrl = flags.natsUrl ?? (context.env.NATS_URL || undefined);
  if (ha && natsUrl) usage(`--ha starts its own 3-node NATS cluster; leave out ${flags.natsUrl ? '--nats-url' : 'NATS_URL'}, or run without --ha`);
  if (flags.gatewayPort + replicas - 1 > 65535) usage(`--gateway-port ${flags.gatewayPort} leaves no room for ${replicas} gateways`);
  const stateDir = resolve(context.cwd, flags.stateDir);
  if (flags.clusters > 1) {
    if (ha) usage('--clusters 2 runs one nats-server per cluster; leave out --ha');
    if (natsUrl) usage(`--clusters 2 starts a nats-server for each cluster; leave out ${flags.natsUrl ? '--nats-url' : 'NATS_URL'}`);
    if (flags.manifests) usage('--clusters 2 keeps a manifests folder per cluster (<state-dir>/west/manifests, <state-dir>/east/manifests); leave out --manifests');
    if (flags.gatewayPort + 10 + replicas - 1 > 65535) usage(`--gateway-port ${flags.gatewayPort} leaves no room for east's gateways at ${flags.gatewayPort + 10}`);
    const meshes = new LinkedDevMeshes(
      { stateDir, replicas, gatewayPort: flags.gatewayPort, logLevel: flags.logLevel, json: flags.json ?? false, readyTimeoutMs: flags.readyTimeout, repoRoot },
      context,
      createCliLogger(context.stderr),
    );
    await runUntilStopped(meshes, context);
    return;
  }
  const mesh = new DevMesh(
    {
      stateDir,
      ...(flags.manifests ? { manifestsDir: resolve(context.cwd, flags.manifests) } : {}),
      replicas,
      natsNodes: topology.natsNodes,
      ...(topology.streamReplicas !== undefined ? { streamReplicas: topology.streamReplicas } : {}),
      ...(natsUrl ? { natsUrl } : {}),
      gatewayPort: flags.gatewayPort,
      logLevel: flags.logLevel,
      json: flags.json ?? false,
      readyTimeoutMs: flags.readyTimeout,
      repoRoot,
    },
    context,
    createCliLogger(context.stderr),
  );
  await runUntilStopped(mesh, context);
}

async function runUntilStopped(mesh: { start(): Promise<boolean> } & AsyncDisposable, context: CliContext): Promise<void> {
  try {
    if (await mesh.start()) await untilAborted(context.signal);
  } finally {
    context.stdout.write('[dev] stopping\n');
    await mesh[Symbol.asyncDispose]();
    context.stdout.write('[dev] stopped\n');
  }
}
