import { status } from '@grpc/grpc-js';
import { Option, type Command } from 'commander';
import { subjects, type PolicyStatus } from '@meshbus/bus-schemas';
import { MeshbusError } from '@meshbus/runtime';
import { inbound, outbound } from '@meshbus/proxy-api';
import type { CliContext } from '../context.js';
import { readDevState, resolveGateways } from '../dev-state.js';
import { formatTcpAddress } from '../endpoint-set.js';
import { GatewayCallError } from '../errors.js';
import { parseDnsLabel, parseDomain, parseDurationFlag, parseHostPort, parsePort, parseTarget, type Target } from '../flags.js';
import { parseTcpAddress, parseWorkloadRef, strictlyParsedBy, usageExitCode, workloadJson, type WorkloadRef } from '../policy-args.js';
import { readState, type NatsFlags } from '../policy-bus.js';
import { checkExitCode, checkPolicies, formatPolicyCheck, policyCheckJson } from '../policy-check-format.js';
import { getPolicy, inboundApi, outboundApi, watchPolicy, type PolicyApi } from '../policy-grpc.js';
import { formatInboundServer } from '../policy-inbound-format.js';
import { formatOutboundPolicy } from '../policy-outbound-format.js';

interface GatewayFlags {
  gateway?: string[];
  json?: boolean;
  watch?: boolean;
  timeout: number;
}

interface OutboundFlags extends GatewayFlags {
  source?: WorkloadRef;
  address?: ReturnType<typeof parseTcpAddress>;
  clusterDomain: string;
}

interface CheckFlags extends NatsFlags {
  json?: boolean;
  namespace?: string;
}

/** `meshbus policy check` found rejected resources, or nothing to check. */
export class PolicyCheckFailedError extends MeshbusError {
  override name = 'PolicyCheckFailedError';
  constructor(message: string) {
    super('PolicyCheckFailed', message);
  }
}

const examples = `
Examples:
  $ meshbus policy inbound shop/web-1 8080
  $ meshbus policy inbound shop/web-1 8080 --watch --json
  $ meshbus policy outbound web.shop:80 --source shop/front-1
  $ meshbus policy outbound --address 10.0.0.7:8080
  $ meshbus policy check --namespace shop`;

function gatewayOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--gateway <host:port>', 'gateway gRPC address; repeat to fail over (default: from .meshbus/dev.json, else 127.0.0.1:8086)').argParser(
        (value: string, previous: string[] | undefined) => [...(previous ?? []), strictlyParsedBy((v) => parseHostPort(v, 'gateway'))(value)],
      ),
    )
    .option('--watch', 'keep the stream open (WatchPort / Watch) and print every update, reconnecting when it breaks')
    .option('--json', 'print the message as JSON (the proxy API JSON form), one line per update')
    .addOption(
      new Option('--timeout <duration>', 'how long to wait for the answer or the first update')
        .argParser(strictlyParsedBy((v) => parseDurationFlag(v, '--timeout', { minMs: 1 })))
        .default(10_000, '10s'),
    );
}

function natsOptions(command: Command): Command {
  return command
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the reader user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)');
}

/** `meshbus policy inbound|outbound|check`: what proxies are told, and which resources were refused. */
export function registerPolicyCommand(program: Command, context: CliContext): void {
  const policy = program.command('policy').description('show the policy a proxy would receive, and check the policy resources').addHelpText('after', examples);

  gatewayOptions(
    policy
      .command('inbound')
      .description('show the inbound policy a proxy of the workload would get for a port (InboundServerPolicies.GetPort on the gateway)')
      .argument('<workload>', 'the workload as <namespace>/<workload>, e.g. shop/web-1', strictlyParsedBy((v) => parseWorkloadRef(v)))
      .argument('<port>', 'the workload port, 1 to 65535', strictlyParsedBy((v) => parsePort(v, 'port'))),
  ).action(async (workload: WorkloadRef, port: number, flags: GatewayFlags) => {
    const request: inbound.PortSpec = { workload: workloadJson(workload), port };
    const title = `${workload.namespace}/${workload.workload} port ${port}`;
    await runGatewayCall(inboundApi, request, flags, context, {
      title,
      text: (server) => formatInboundServer(server),
      json: (server) => inbound.Server.toJSON(server),
    });
  });

  gatewayOptions(
    policy
      .command('outbound')
      .description('show the outbound policy a proxy would get for a service port or an address (OutboundPolicies.Get on the gateway)')
      .argument('[target]', 'service port as <service>.<namespace>:<port>, e.g. web.shop:80 (or use --address)', strictlyParsedBy(parseTarget))
      .addOption(new Option('--address <ip:port>', 'ask by address instead of by service').argParser(strictlyParsedBy((v) => parseTcpAddress(v))))
      .addOption(new Option('--source <namespace/workload>', 'the calling workload (consumer routes of its namespace apply)').argParser(strictlyParsedBy((v) => parseWorkloadRef(v, '--source'))))
      .addOption(
        new Option('--cluster-domain <domain>', 'cluster DNS domain of service names').argParser(strictlyParsedBy((v) => parseDomain(v, 'cluster domain'))).default('cluster.local'),
      ),
  ).action(async (target: Target | undefined, flags: OutboundFlags, command: Command) => {
    if ((target === undefined) === (flags.address === undefined)) {
      command.error('error: give either a target <service>.<namespace>:<port> or --address <ip:port>, not both or neither', { exitCode: usageExitCode });
    }
    const authority = target ? `${target.service}.${target.namespace}.svc.${flags.clusterDomain}:${target.port}` : undefined;
    const request: outbound.TrafficSpec = {
      sourceWorkload: flags.source ? workloadJson(flags.source) : '',
      target: authority !== undefined ? { $case: 'authority', authority } : { $case: 'addr', addr: flags.address! },
    };
    await runGatewayCall(outboundApi, request, flags, context, {
      title: authority ?? formatTcpAddress(flags.address),
      text: (p) => formatOutboundPolicy(p),
      json: (p) => outbound.OutboundPolicy.toJSON(p),
    });
  });

  natsOptions(
    policy
      .command('check')
      .description('list the policy and route resources the policy service rejected, and why; exit code 1 if any')
      .option('--json', 'print the result as one JSON object')
      .option('--namespace <namespace>', 'only resources of this namespace', strictlyParsedBy((v) => parseDnsLabel(v, '--namespace'))),
  ).action(async (flags: CheckFlags) => {
    const found = await readState(flags, context, [subjects.allPolicyStatus, subjects.policyDefaults], 'policy check');
    const statuses: PolicyStatus[] = [];
    for (const e of found.values()) if (e.kind === 'policyStatus') statuses.push(e.data as PolicyStatus);
    const check = checkPolicies(statuses, found.has(subjects.policyDefaults), flags.namespace);
    if (flags.json) context.stdout.write(JSON.stringify(policyCheckJson(check)) + '\n');
    else if (check.published) context.stdout.write(formatPolicyCheck(check));
    if (checkExitCode(check) === 0) return;
    if (!check.published) throw new PolicyCheckFailedError(formatPolicyCheck(check).trimEnd());
    const plural = (n: number) => `${n} policy resource${n === 1 ? '' : 's'}`;
    const what = [check.rejected.length ? `${plural(check.rejected.length)} rejected` : '', check.conflicted.length ? `${plural(check.conflicted.length)} in conflict` : ''];
    throw new PolicyCheckFailedError(what.filter((w) => w !== '').join(', '));
  });
}

interface Presentation<Res> {
  title: string;
  text(response: Res): string;
  json(response: Res): unknown;
}

async function runGatewayCall<Req, Res>(api: PolicyApi<Req, Res>, request: Req, flags: GatewayFlags, context: CliContext, show: Presentation<Res>): Promise<void> {
  const gateways = flags.gateway?.length ? flags.gateway : resolveGateways(undefined, await readDevState(context.cwd));
  const out = (text: string) => void context.stdout.write(text);
  try {
    if (!flags.watch) {
      const { gateway, response } = await getPolicy(api, gateways, request, flags.timeout);
      if (flags.json) out(JSON.stringify(show.json(response)) + '\n');
      else out(`${show.title} via ${gateway}\n${show.text(response)}`);
      return;
    }
    let first = true;
    await watchPolicy(api, request, { gateways, firstUpdateTimeoutMs: flags.timeout, signal: context.signal }, {
      update(response, gateway) {
        if (flags.json) out(JSON.stringify(show.json(response)) + '\n');
        else out(`${first ? '' : '\n'}${new Date().toISOString()}  ${show.title} via ${gateway}\n${show.text(response)}`);
        if (first) context.stderr.write('watching for changes (Ctrl-C to stop)\n');
        first = false;
      },
      interrupted(reason, next) {
        context.stderr.write(`${new Date().toISOString()}  stream interrupted: ${reason}; reconnecting to ${next}\n`);
      },
    });
  } catch (err) {
    if (err instanceof GatewayCallError && err.grpcCode === status.UNAVAILABLE) {
      throw new GatewayCallError(err.gateway, err.grpcCode, err.grpcStatus, `${err.details} (is the gateway running? start the mesh with \`npm run dev\` or pass --gateway)`);
    }
    throw err;
  }
}
