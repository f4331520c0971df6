import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { connectBus, JetStreamPublisher, WorkloadRegistrar } from '@meshbus/bus';
import { natsInboxPrefix } from '@meshbus/runtime';
import { busValidator, streams } from '@meshbus/bus-schemas';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { collectedBy, parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { StreamMissingError } from '../errors.js';
import { formatDuration, parseDnsLabel, parseDurationFlag, parseIpAddress, parseLabel, parsePortSpec, type PortSpec } from '../flags.js';
import { ensureNatsReachable } from '../nats-probe.js';
import { buildRegistration } from '../registration.js';

interface RegisterFlags {
  namespace: string;
  name: string;
  address: string;
  port: PortSpec[];
  label?: [string, string][];
  serviceAccount?: string;
  zone?: string;
  notMeshed?: boolean;
  interval: number;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

const examples = `
Examples:
  $ meshbus register --namespace shop --name web-3 --address 127.0.0.13 --port http=8080 --label app=web --service-account web
  $ meshbus register --namespace shop --name legacy-1 --address 10.0.0.7 --port 5432 --label app=db --not-meshed --interval 10s`;

/** `meshbus register`: keeps a workload outside Kubernetes registered over the bus until Ctrl-C. */
export function registerRegisterCommand(program: Command, context: CliContext): void {
  program
    .command('register')
    .description('register a workload outside Kubernetes over the bus, with heartbeats, until Ctrl-C or SIGTERM (then deregister)')
    .requiredOption('--namespace <namespace>', 'namespace of the workload', parsedBy((v) => parseDnsLabel(v, 'namespace')))
    .requiredOption('--name <name>', 'name of the workload', parsedBy((v) => parseDnsLabel(v, 'name')))
    .requiredOption('--address <ip>', 'IPv4 or IPv6 address the workload listens on', parsedBy(parseIpAddress))
    .requiredOption('--port <[name=]port>', 'a port the workload listens on, optionally named (repeatable)', collectedBy(parsePortSpec))
    .option('--label <key=value>', 'a label; services select workloads by label (repeatable)', collectedBy(parseLabel))
    .option('--service-account <name>', 'service account: the workload identity its proxy presents', parsedBy((v) => parseDnsLabel(v, 'service account')))
    .option('--zone <zone>', 'zone of the workload, for topology-aware routing')
    .option('--not-meshed', 'the workload has no proxy: clients connect without mTLS')
    .addOption(
      new Option('--interval <duration>', 'heartbeat interval; the workload is removed after three missed ones')
        .argParser(parsedBy((v) => parseDurationFlag(v, '--interval', { minMs: 100, maxMs: 3_600_000 })))
        .default(5000, '5s'),
    )
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the workload user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .action(async (flags: RegisterFlags) => {
      await runRegister(flags, context);
    });
}

async function runRegister(flags: RegisterFlags, context: CliContext): Promise<void> {
  const registration = buildRegistration({
    namespace: flags.namespace,
    name: flags.name,
    address: flags.address,
    ports: flags.port,
    labels: flags.label ?? [],
    serviceAccount: flags.serviceAccount,
    zone: flags.zone,
    meshed: !flags.notMeshed,
    intervalMs: flags.interval,
  });
  const dev = await readDevState(context.cwd);
  const url = resolveNatsUrl(flags.natsUrl, context.env, dev);
  const login = resolveNatsLogin(flags, context.env, dev, url, 'workload');
  await ensureNatsReachable(url);
  const logger = createCliLogger(context.stderr);
  const key = `${registration.namespace}/${registration.name}`;
  // With the generated NATS users the workload role may no longer write state: this path waits for registration requests to the destination replicas.
  const nc = await connectBus({ servers: [url], name: `meshbus-cli register ${key}`, inboxPrefix: natsInboxPrefix('workload'), ...login }, logger);
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.info(streams.state.name).catch(() => {
      throw new StreamMissingError(streams.state.name, url);
    });
    const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: `/meshbus/register/${hostname()}` });
    const registrar = new WorkloadRegistrar({ publisher, registration, intervalMs: flags.interval, logger });
    await registrar.start();
    const ports = registration.ports.map((p) => (p.name ? `${p.name}=${p.port}` : String(p.port))).join(',');
    context.stdout.write(
      `registered ${key} (${registration.address}, ports ${ports}) on ${url}; heartbeat every ${formatDuration(flags.interval)}; Ctrl-C deregisters\n`,
    );
    await untilAborted(context.signal);
    await registrar.stop();
    context.stdout.write(`deregistered ${key}\n`);
  } finally {
    await nc.close();
  }
}
