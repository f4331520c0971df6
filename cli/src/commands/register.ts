import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { connectBus, NatsRegistrationTransport, WorkloadRegistrar, WorkloadRegistrationError } from '@meshbus/bus';
import { errorMessage, MeshbusError, natsInboxPrefix } from '@meshbus/runtime';
import { createCliLogger, untilAborted } from '../cli-logger.js';
import { collectedBy, parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { defaultStateDir, readDevState, resolveNatsLogin, resolveNatsUrl } from '../dev-state.js';
import { UsageError } from '../errors.js';
import { formatDuration, parseDnsLabel, parseDurationFlag, parseIpAddress, parseLabel, parsePortSpec, type PortSpec } from '../flags.js';
import { ensureNatsReachable } from '../nats-probe.js';
import { buildRegistration, chooseWorkloadTokenSource, describeRegistrationError, describeTokenSource, type WorkloadTokenSource } from '../registration.js';
import { identityCommandDefaults, signWorkloadToken, TokenKeyFile } from './identity.js';

/** The destination refused the registration, or could not be told of the deregistration. */
export class RegistrationFailedError extends MeshbusError {
  override name = 'RegistrationFailedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('RegistrationFailed', message, options);
  }
}

/** Tokens the CLI signs in `meshbus dev` state live this long and are signed again well before. */
const devTokenLifetimeMs = 3_600_000;
const devTokenRefreshMs = 600_000;

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
  tokenFile?: string;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
}

const examples = `
Examples:
  $ meshbus register --namespace shop --name web-3 --address 127.0.0.13 --port http=8080 --label app=web --service-account web
  $ meshbus register --namespace shop --name legacy-1 --address 10.0.0.7 --port 5432 --label app=db --not-meshed --interval 10s
  $ meshbus register --namespace shop --name vm-1 --address 10.0.0.8 --port http=8080 --label app=web --service-account web --token-file /var/run/meshbus/token`;

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
    .option('--token-file <file>', 'file holding the workload token, read before every request (default: MESHBUS_WORKLOAD_TOKEN, else signed with the key of a running meshbus dev)')
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the workload user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .action(async (flags: RegisterFlags) => {
      await runRegister(flags, context);
    });
}

async function runRegister(flags: RegisterFlags, context: CliContext): Promise<void> {
  const registered = await openRegistration(flags, context);
  try {
    const { registration, answer, url, key } = registered;
    const ports = registration.ports.map((p) => (p.name ? `${p.name}=${p.port}` : String(p.port))).join(',');
    context.stdout.write(
      `${answer.outcome === 'unchanged' ? 'already registered' : 'registered'} ${key} (${registration.address}, ports ${ports}) on ${url}; heartbeat every ${formatDuration(flags.interval)}; Ctrl-C deregisters\n`,
    );
    await untilAborted(context.signal);
    await registered.deregister();
    context.stdout.write(`deregistered ${key}\n`);
  } finally {
    await registered.close();
  }
}

/** A workload registered through the authenticated path, with its heartbeats running. */
export interface OpenRegistration {
  readonly registration: ReturnType<typeof buildRegistration>;
  readonly answer: Awaited<ReturnType<WorkloadRegistrar['start']>>;
  /** The NATS URL it is registered on. */
  readonly url: string;
  /** `namespace/name`. */
  readonly key: string;
  /** The workload token (read or signed again when it is due). */
  readonly token: () => Promise<string>;
  /** Stops the heartbeats and deregisters. */
  deregister(): Promise<void>;
  /** Closes the NATS connection (after deregister, or instead of it). */
  close(): Promise<void>;
}

/** The flags `meshbus register` and `meshbus run` share. */
export type RegistrationFlags = RegisterFlags;

/**
 * Registers a workload as `meshbus register` does: NATS and the token from
 * the flags, the environment or `.meshbus/dev.json`, then one registration
 * request answered by the destination before this resolves.
 */
export async function openRegistration(flags: RegistrationFlags, context: CliContext): Promise<OpenRegistration> {
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
  const devKeyFile = join(resolve(context.cwd), defaultStateDir, 'identity', TokenKeyFile.privateKey);
  const source = chooseWorkloadTokenSource({
    tokenFile: flags.tokenFile,
    env: context.env,
    devKeyFile: dev && dev.natsUrl === url && existsSync(devKeyFile) ? devKeyFile : undefined,
  });
  const token = workloadToken(source, registration.namespace, registration.serviceAccount ?? 'default');
  await token();
  const logger = createCliLogger(context.stderr);
  const key = `${registration.namespace}/${registration.name}`;
  // With the generated NATS users the workload role may no longer write state: this path waits for registration requests to the destination replicas.
  const nc = await connectBus({ servers: [url], name: `meshbus-cli register ${key}`, inboxPrefix: natsInboxPrefix('workload'), ...login }, logger);
  try {
    const transport = new NatsRegistrationTransport({ nc, source: `/meshbus/register/${hostname()}` });
    const registrar = new WorkloadRegistrar({ transport, token, registration, intervalMs: flags.interval, logger, startTimeoutMs: 15_000 });
    const answer = await registrar.start().catch((error: unknown) => {
      throw refused(error, source);
    });
    return {
      registration,
      answer,
      url,
      key,
      token,
      deregister: () =>
        registrar.stop().catch((error: unknown) => {
          throw new RegistrationFailedError(`could not deregister ${key} (${errorMessage(error)}); the destination removes it after three missed heartbeats`, { cause: error });
        }),
      close: () => nc.close(),
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}

function refused(error: unknown, source: WorkloadTokenSource): unknown {
  if (error instanceof WorkloadRegistrationError) return new RegistrationFailedError(describeRegistrationError(error, source), { cause: error });
  return error;
}

/** Reads (or signs) the token before each request, so that a rotated token file is picked up. */
function workloadToken(source: WorkloadTokenSource, namespace: string, serviceAccount: string): () => Promise<string> {
  switch (source.kind) {
    case 'env':
      return async () => source.token;
    case 'file':
      return async () => {
        let text: string;
        try {
          text = (await readFile(source.path, 'utf8')).trim();
        } catch (error) {
          throw new UsageError(`--token-file ${source.path} cannot be read: ${errorMessage(error)}`);
        }
        if (text === '') throw new UsageError(`--token-file ${source.path} is empty`);
        return text;
      };
    case 'dev': {
      let cached: { token: string; at: number } | undefined;
      return async () => {
        const now = Date.now();
        if (!cached || now - cached.at > devTokenRefreshMs) {
          const signed = await signWorkloadToken({
            namespace,
            serviceAccount,
            expiresMs: devTokenLifetimeMs,
            audience: identityCommandDefaults.audience,
            keyFile: source.keyFile,
            now: new Date(now),
          }).catch((error: unknown) => {
            throw new UsageError(`cannot sign a workload token (${describeTokenSource(source)}): ${errorMessage(error)}`);
          });
          cached = { token: signed, at: now };
        }
        return cached.token;
      };
    }
  }
}
