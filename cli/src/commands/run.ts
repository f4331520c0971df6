import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CommanderError, Option, type Command } from 'commander';
import { Proxy, proxyProcessConfig } from '@meshbus/proxy';
import { errorMessage, MeshbusError } from '@meshbus/runtime';
import { createCliLogger } from '../cli-logger.js';
import { collectedBy, parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { defaultStateDir, readDevState } from '../dev-state.js';
import { UsageError } from '../errors.js';
import { parseDnsLabel, parseDurationFlag, parseIpAddress, parseLabel, parsePortSpec, type PortSpec } from '../flags.js';
import { usageExitCode } from '../policy-args.js';
import { openRegistration } from './register.js';

interface RunFlags {
  namespace: string;
  name: string;
  serviceAccount: string;
  address: string;
  port: PortSpec[];
  label?: [string, string][];
  interval: number;
  tokenFile?: string;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

const examples = `
The program gets HTTP_PROXY and http_proxy set to the proxy's outbound listener.
Exit code: the program's (128 + n when signal n ended it), 2 for bad flags, 1 when the mesh part failed.

Example:
  $ meshbus run --namespace shop --name web-1 --service-account web --port http=8080 --address 127.0.0.31 -- node server.js`;

/** How often the token file of the proxy is written again (the token source signs a new one when it is due). */
const tokenRefreshMs = 60_000;

/** The inbound port of the proxy `meshbus run` starts (other proxies send mesh TLS there). */
export const runInboundPort = 4143;

/** `meshbus run`: registers a workload, puts a proxy in front of it and runs the program. */
export function registerRunCommand(program: Command, context: CliContext): void {
  program
    .command('run')
    .description('run a program as a mesh workload: register it, start its proxy in this process, run it with HTTP_PROXY set; deregister when it ends')
    .argument('<command...>', 'the program and its arguments (after --)')
    .requiredOption('--namespace <namespace>', 'namespace of the workload', parsedBy((v) => parseDnsLabel(v, 'namespace')))
    .requiredOption('--name <name>', 'name of the workload', parsedBy((v) => parseDnsLabel(v, 'name')))
    .requiredOption('--service-account <name>', 'service account: the identity the proxy presents', parsedBy((v) => parseDnsLabel(v, 'service account')))
    .requiredOption('--port <[name=]port>', 'a port the program listens on, optionally named (repeatable)', collectedBy(parsePortSpec))
    .addOption(new Option('--address <ip>', `address the program and the proxy's inbound listener (port ${runInboundPort}) use`).argParser(parsedBy(parseIpAddress)).default('127.0.0.1'))
    .option('--label <key=value>', 'a label; services select workloads by label (repeatable)', collectedBy(parseLabel))
    .addOption(
      new Option('--interval <duration>', 'heartbeat interval of the registration')
        .argParser(parsedBy((v) => parseDurationFlag(v, '--interval', { minMs: 100, maxMs: 3_600_000 })))
        .default(5000, '5s'),
    )
    .option('--token-file <file>', 'file holding the workload token (default: MESHBUS_WORKLOAD_TOKEN, else signed with the key of a running meshbus dev)')
    .option('--nats-url <url>', 'NATS server(s) (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the workload user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .exitOverride((error) => {
      // A bad flag is a usage error: 2, before anything starts.
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    })
    .action(async (argv: string[], flags: RunFlags) => {
      const code = await runWorkload(argv, flags, context);
      if (code !== 0) throw new CommanderError(code, 'meshbus.run', '');
    });
}

async function runWorkload(argv: string[], flags: RunFlags, context: CliContext): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) throw new UsageError('give the program to run after --');
  const dev = await readDevState(context.cwd);
  if (!dev || dev.gateways.length === 0) throw new UsageError('meshbus run needs a running meshbus dev (no gateway in .meshbus/dev.json)');
  const registered = await openRegistration({ ...flags, notMeshed: false }, context);
  let proxy: Proxy | undefined;
  // The proxy reads its identity token from a file before every certificate request; it is kept fresh here.
  const tokenFile = join(resolve(context.cwd), defaultStateDir, 'run', `${flags.namespace}.${flags.name}.token`);
  const writeToken = async () => writeFile(tokenFile, await registered.token(), { mode: 0o600 });
  const refresh = setInterval(() => void writeToken().catch((error: unknown) => void context.stderr.write(`meshbus run: cannot renew ${tokenFile}: ${errorMessage(error)}\n`)), tokenRefreshMs);
  refresh.unref();
  try {
    await mkdir(dirname(tokenFile), { recursive: true });
    await writeToken();
    proxy = await startProxy(flags, dev.gateways, tokenFile, context);
    const outbound = `http://127.0.0.1:${proxy.ports.outbound}`;
    context.stderr.write(`meshbus run: ${registered.key} registered on ${registered.url}; proxy inbound ${flags.address}:${proxy.ports.inbound}, outbound ${outbound}, admin ${proxy.adminUrl}\n`);
    return await runProgram(command, args, { ...context.env, HTTP_PROXY: outbound, http_proxy: outbound }, context.signal);
  } finally {
    await registered.deregister().catch((error: unknown) => void context.stderr.write(`meshbus run: ${errorMessage(error)}\n`));
    await proxy?.[Symbol.asyncDispose]();
    await registered.close();
    clearInterval(refresh);
    await rm(tokenFile, { force: true });
  }
}

async function startProxy(flags: RunFlags, gateways: string[], tokenFile: string, context: CliContext): Promise<Proxy> {
  const host = flags.address.includes(':') ? `[${flags.address}]` : flags.address;
  const { config, options } = proxyProcessConfig({
    MESHBUS_PROXY_GATEWAYS: gateways.join(','),
    MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
    MESHBUS_PROXY_NAMESPACE: flags.namespace,
    MESHBUS_PROXY_WORKLOAD_NAME: flags.name,
    MESHBUS_PROXY_SERVICE_ACCOUNT: flags.serviceAccount,
    MESHBUS_PROXY_TRUST_ANCHORS: join(resolve(context.cwd), defaultStateDir, 'identity', 'ca.crt'),
    MESHBUS_PROXY_IDENTITY_TOKEN_FILE: tokenFile,
    MESHBUS_PROXY_INBOUND_ADDR: `${host}:${runInboundPort}`,
    MESHBUS_PROXY_WORKLOAD_ADDR: flags.address,
    MESHBUS_PROXY_INBOUND_PORTS: flags.port.map((p) => String(p.port)).join(','),
    MESHBUS_PROXY_OUTBOUND_ADDR: '127.0.0.1:0',
    MESHBUS_PROXY_ADMIN_ADDR: '127.0.0.1:0',
    MESHBUS_PROXY_ACCESS_LOG: 'off',
  });
  const proxy = new Proxy(config, options, { logger: createCliLogger(context.stderr) });
  // Ctrl-C while the proxy still waits for its certificate or policies stops it.
  const stop = () => void proxy[Symbol.asyncDispose]();
  context.signal.addEventListener('abort', stop, { once: true });
  try {
    await proxy.start();
  } catch (error) {
    await proxy[Symbol.asyncDispose]().catch(() => undefined);
    throw error;
  } finally {
    context.signal.removeEventListener('abort', stop);
  }
  if (context.signal.aborted) {
    await proxy[Symbol.asyncDispose]();
    throw new RunStoppedError();
  }
  return proxy;
}

/** Ctrl-C or SIGTERM came before the program was started. */
export class RunStoppedError extends MeshbusError {
  override name = 'RunStoppedError';
  constructor() {
    super('RunStopped', 'stopped before the program was started');
  }
}

/** Runs the program with the terminal's streams; on `signal` it is sent SIGTERM. Resolves with its exit code. */
async function runProgram(command: string, args: string[], env: Record<string, string | undefined>, signal: AbortSignal): Promise<number> {
  const child = spawn(command, args, { env, stdio: 'inherit' });
  const stop = () => child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  try {
    const [code, killedBy] = (await Promise.race([
      once(child, 'exit'),
      once(child, 'error').then(([error]) => {
        throw new UsageError(`cannot run ${command}: ${(error as Error).message}`);
      }),
    ])) as [number | null, NodeJS.Signals | null];
    if (code !== null) return code;
    return 128 + (killedBy ? (constants.signals[killedBy] ?? 0) : 0);
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
