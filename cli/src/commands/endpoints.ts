import { status } from '@grpc/grpc-js';
import { Option, type Command } from 'commander';
import { collectedBy, parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { followDestination } from '../destination-stream.js';
import { readDevState, resolveGateways } from '../dev-state.js';
import { changeJson, endpointSetJson, formatChange, formatEndpointHeading, formatEndpointTable } from '../endpoint-format.js';
import { GatewayCallError } from '../errors.js';
import { parseDomain, parseDurationFlag, parseHostPort, parseTarget, type Target } from '../flags.js';

interface EndpointsFlags {
  gateway?: string[];
  clusterDomain: string;
  watch?: boolean;
  json?: boolean;
  timeout: number;
}

const examples = `
Examples:
  $ meshbus endpoints web.shop:80
  $ meshbus endpoints web.shop:80 --watch
  $ meshbus endpoints db.shop:5432 --gateway 127.0.0.1:8087 --json`;

/** `meshbus endpoints <svc>.<ns>:<port>`: the endpoint set a proxy would get from the gateway. */
export function registerEndpointsCommand(program: Command, context: CliContext): void {
  program
    .command('endpoints')
    .description('show the endpoints a proxy would get for a service port (Destination.Get on the gateway)')
    .argument('<target>', 'service port as <service>.<namespace>:<port>, e.g. web.shop:80', parsedBy(parseTarget))
    .addOption(
      new Option('--gateway <host:port>', 'gateway gRPC address; repeat to fail over (default: from .meshbus/dev.json, else 127.0.0.1:8086)')
        .argParser(collectedBy((v) => parseHostPort(v, 'gateway'))),
    )
    .addOption(new Option('--cluster-domain <domain>', 'cluster DNS domain of service names').argParser(parsedBy((v) => parseDomain(v, 'cluster domain'))).default('cluster.local'))
    .option('--watch', 'keep the stream open and print every change, reconnecting when it breaks')
    .option('--json', 'print JSON: the set, then (with --watch) one line per update')
    .addOption(
      new Option('--timeout <duration>', 'how long to wait for the first update').argParser(parsedBy((v) => parseDurationFlag(v, '--timeout', { minMs: 1 }))).default(10_000, '10s'),
    )
    .addHelpText('after', examples)
    .action(async (target: Target, flags: EndpointsFlags) => {
      await runEndpoints(target, flags, context);
    });
}

async function runEndpoints(target: Target, flags: EndpointsFlags, context: CliContext): Promise<void> {
  try {
    await followEndpoints(target, flags, context);
  } catch (err) {
    if (err instanceof GatewayCallError && err.grpcCode === status.UNAVAILABLE) {
      throw new GatewayCallError(err.gateway, err.grpcCode, err.grpcStatus, `${err.details} (is the gateway running? start the mesh with \`npm run dev\` or pass --gateway)`);
    }
    throw err;
  }
}

async function followEndpoints(target: Target, flags: EndpointsFlags, context: CliContext): Promise<void> {
  const gateways = flags.gateway?.length ? flags.gateway : resolveGateways(undefined, await readDevState(context.cwd));
  const path = `${target.service}.${target.namespace}.svc.${flags.clusterDomain}:${target.port}`;
  const out = (text: string) => context.stdout.write(text);
  const json = (value: unknown) => out(JSON.stringify(value) + '\n');
  await followDestination({
    gateways,
    request: { scheme: 'k8s', path, contextToken: '' },
    watch: flags.watch ?? false,
    firstUpdateTimeoutMs: flags.timeout,
    signal: context.signal,
    listener: {
      snapshot(set, gateway) {
        if (flags.json) {
          json({ ...(flags.watch ? { time: new Date().toISOString(), update: 'snapshot' } : {}), path, gateway, ...endpointSetJson(set) });
          return;
        }
        out(formatEndpointHeading(path, gateway, set));
        out(formatEndpointTable(set));
        if (flags.watch) context.stderr.write('watching for changes (Ctrl-C to stop)\n');
      },
      change(change, set) {
        if (flags.json) json(changeJson(change, new Date(), set.endpoints.size));
        else out(formatChange(change, new Date(), set.endpoints.size));
      },
      interrupted(reason, next) {
        context.stderr.write(`${new Date().toISOString()}  stream interrupted: ${reason}; reconnecting to ${next}\n`);
      },
      resumed(gateway) {
        context.stderr.write(`${new Date().toISOString()}  streaming again from ${gateway}\n`);
      },
    },
  });
}
