import type { Command } from 'commander';
import { subjects, type InboundPolicy, type PolicyDefaults } from '@meshbus/bus-schemas';
import { MeshbusError } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { parseWorkloadRef, strictlyParsedBy, type WorkloadRef } from '../policy-args.js';
import { formatAuthz, formatUnknownWorkload, namespaceDefault } from '../policy-authz-format.js';
import { readState, type NatsFlags } from '../policy-bus.js';

/** Neither the workload's policy nor the defaults are on the bus. */
export class PolicyUnknownError extends MeshbusError {
  override name = 'PolicyUnknownError';
  constructor(message: string) {
    super('PolicyUnknown', message);
  }
}

interface AuthzFlags extends NatsFlags {
  json?: boolean;
}

const examples = `
Examples:
  $ meshbus authz shop/web-1
  $ meshbus authz shop/web-1 --json`;

/** `meshbus authz <ns>/<workload>`: who may reach a workload, on which port and route, from the policy published on the bus. */
export function registerAuthzCommand(program: Command, context: CliContext): void {
  program
    .command('authz')
    .description('show who may reach a workload, on which port and route (the inbound policy published on the bus)')
    .argument('<workload>', 'the workload as <namespace>/<workload>, e.g. shop/web-1', strictlyParsedBy((v) => parseWorkloadRef(v)))
    .option('--json', 'print the published inbound policy (or, for an unknown workload, the defaults) as one JSON object')
    .option('--nats-url <url>', 'NATS server(s), comma separated (default: NATS_URL, .meshbus/dev.json, else nats://127.0.0.1:4222)')
    .option('--nats-user <user>', 'NATS user (default: NATS_USER, else the reader user of a running meshbus dev)')
    .option('--nats-password <password>', 'NATS password (default: NATS_PASSWORD, else from .meshbus/dev.json)')
    .addHelpText('after', examples)
    .action(async (ref: WorkloadRef, flags: AuthzFlags) => {
      const subject = subjects.inboundPolicy(ref.namespace, ref.workload);
      const found = await readState(flags, context, [subject, subjects.policyDefaults], 'authz');
      const policy = found.get(subject)?.data as InboundPolicy | undefined;
      const defaults = found.get(subjects.policyDefaults)?.data as PolicyDefaults | undefined;
      if (!policy && !defaults) {
        throw new PolicyUnknownError(`no inbound policy is published for ${ref.namespace}/${ref.workload}, and no policy defaults either: is the policy service running (npm run dev)?`);
      }
      if (flags.json) {
        const effective = defaults ? namespaceDefault(defaults, ref.namespace) : undefined;
        context.stdout.write(
          JSON.stringify({
            namespace: ref.namespace,
            workload: ref.workload,
            known: policy !== undefined,
            ...(policy ? { policy } : {}),
            ...(!policy && effective ? { defaultPolicy: effective.policy, defaultFrom: effective.from, defaults } : {}),
          }) + '\n',
        );
        return;
      }
      context.stdout.write(policy ? formatAuthz(policy) : formatUnknownWorkload(ref.namespace, ref.workload, defaults));
    });
}
