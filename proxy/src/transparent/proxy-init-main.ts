import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorMessage } from '@meshbus/core';
import { applyIptablesPlan, iptablesCommands, IptablesError, type IptablesMode } from './iptables-applier.js';
import { planToShell, proxyInitConfig, ProxyInitConfigError, proxyInitPlan, proxyInitRemovalPlan, type ProxyInitConfig } from './proxy-init.js';

/** Exit codes of `proxy-init`. */
export const PROXY_INIT_EXIT = {
  ok: 0,
  /** iptables refused a rule or failed. */
  failed: 1,
  /** Bad arguments or environment. */
  usage: 2,
  /** Not root / no CAP_NET_ADMIN. */
  notPermitted: 3,
  /** No iptables command. */
  iptablesMissing: 4,
} as const;

export const PROXY_INIT_USAGE = `Usage: proxy-init [options]

Writes the nat-table rules that send a pod's TCP through its proxy.

  --proxy-uid <uid>             uid of the proxy; its connections are not redirected (env MESHBUS_PROXY_UID) [required]
  --inbound-port <port>         the proxy's inbound listener (env MESHBUS_PROXY_INBOUND_PORT) [4143]
  --outbound-port <port>        the proxy's outbound listener (env MESHBUS_PROXY_OUTBOUND_PORT) [4140]
  --inbound-ports <list>        workload ports to redirect inbound, e.g. 8080,9000-9010 (env MESHBUS_PROXY_INBOUND_PORTS) [all]
  --skip-inbound-ports <list>   inbound ports that reach the workload directly (env MESHBUS_PROXY_SKIP_INBOUND_PORTS)
  --skip-outbound-ports <list>  destination ports reached directly (env MESHBUS_PROXY_SKIP_OUTBOUND_PORTS)
  --skip-subnets <list>         destination networks reached directly, e.g. 10.96.0.0/12 (env MESHBUS_PROXY_SKIP_SUBNETS)
  --ipv6                        also write ip6tables rules (env MESHBUS_PROXY_IPV6=true)
  --iptables-mode <mode>        auto (iptables), nft (iptables-nft) or legacy (iptables-legacy) (env MESHBUS_PROXY_IPTABLES_MODE) [auto]
  --dry-run                     print the commands as a shell script instead of running them
  --remove                      take the rules out again
  -h, --help                    this text

Exit codes: 0 done, 1 iptables failed, 2 bad arguments, 3 not permitted (run as root), 4 iptables not found.
`;

/** What one `proxy-init` run does. */
export interface ProxyInitCommand {
  readonly action: 'apply' | 'remove' | 'help';
  readonly config?: ProxyInitConfig;
  readonly ipv6: boolean;
  readonly mode: IptablesMode;
  readonly dryRun: boolean;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function integer(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new ProxyInitConfigError(`${field}: ${JSON.stringify(value)} is not a whole number`);
  return Number(value.trim());
}

function flag(value: string | boolean | undefined, field: string): boolean {
  if (value === undefined || typeof value === 'boolean') return value ?? false;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no|)$/i.test(value)) return false;
  throw new ProxyInitConfigError(`${field}: ${JSON.stringify(value)} is neither true nor false`);
}

/**
 * Reads the arguments and the environment (flags win) into a command; pure.
 * Throws {@link ProxyInitConfigError} naming the flag or variable at fault.
 */
export function proxyInitCommand(argv: readonly string[], env: NodeJS.ProcessEnv): ProxyInitCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'proxy-uid': { type: 'string' },
        'inbound-port': { type: 'string' },
        'outbound-port': { type: 'string' },
        'inbound-ports': { type: 'string' },
        'skip-inbound-ports': { type: 'string' },
        'skip-outbound-ports': { type: 'string' },
        'skip-subnets': { type: 'string' },
        ipv6: { type: 'boolean' },
        'iptables-mode': { type: 'string' },
        'dry-run': { type: 'boolean' },
        remove: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ProxyInitConfigError(errorMessage(err));
  }
  const v = parsed.values;
  const ipv6 = v.ipv6 ?? flag(env.MESHBUS_PROXY_IPV6, 'MESHBUS_PROXY_IPV6');
  const modeText = v['iptables-mode'] ?? env.MESHBUS_PROXY_IPTABLES_MODE ?? 'auto';
  if (modeText !== 'auto' && modeText !== 'nft' && modeText !== 'legacy') {
    throw new ProxyInitConfigError(`--iptables-mode: ${JSON.stringify(modeText)} is not one of auto, nft, legacy`);
  }
  const base = { ipv6, mode: modeText, dryRun: v['dry-run'] ?? false } as const;
  if (v.help) return { action: 'help', ...base };
  if (v.remove) return { action: 'remove', ...base };
  const uidText = v['proxy-uid'] ?? env.MESHBUS_PROXY_UID;
  if (uidText === undefined) throw new ProxyInitConfigError('--proxy-uid (or MESHBUS_PROXY_UID) is required: the uid the proxy runs as');
  const config = proxyInitConfig({
    proxyUid: integer(uidText, '--proxy-uid')!,
    inboundPort: integer(v['inbound-port'] ?? env.MESHBUS_PROXY_INBOUND_PORT, '--inbound-port'),
    outboundPort: integer(v['outbound-port'] ?? env.MESHBUS_PROXY_OUTBOUND_PORT, '--outbound-port'),
    redirectInboundPorts: list(v['inbound-ports'] ?? env.MESHBUS_PROXY_INBOUND_PORTS),
    skipInboundPorts: list(v['skip-inbound-ports'] ?? env.MESHBUS_PROXY_SKIP_INBOUND_PORTS),
    skipOutboundPorts: list(v['skip-outbound-ports'] ?? env.MESHBUS_PROXY_SKIP_OUTBOUND_PORTS),
    skipOutboundSubnets: list(v['skip-subnets'] ?? env.MESHBUS_PROXY_SKIP_SUBNETS),
    ipv6,
  });
  return { action: 'apply', config, ...base };
}

/** Where `proxy-init` writes. */
export interface ProxyInitIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Runs `proxy-init` with these arguments and environment; resolves with the exit code. */
export async function runProxyInit(argv: readonly string[], env: NodeJS.ProcessEnv, io: ProxyInitIo): Promise<number> {
  let command: ProxyInitCommand;
  try {
    command = proxyInitCommand(argv, env);
  } catch (err) {
    io.stderr(`proxy-init: ${errorMessage(err)}\n\n${PROXY_INIT_USAGE}`);
    return PROXY_INIT_EXIT.usage;
  }
  if (command.action === 'help') {
    io.stdout(PROXY_INIT_USAGE);
    return PROXY_INIT_EXIT.ok;
  }
  const plan = command.action === 'remove' ? proxyInitRemovalPlan({ ipv6: command.ipv6 }) : proxyInitPlan(command.config!);
  if (command.dryRun) {
    io.stdout(planToShell(plan, iptablesCommands(command.mode)));
    return PROXY_INIT_EXIT.ok;
  }
  try {
    await applyIptablesPlan(plan, { mode: command.mode, onCommand: (line) => io.stdout(`${line}\n`) });
  } catch (err) {
    io.stderr(`proxy-init: ${errorMessage(err)}\n`);
    if (err instanceof IptablesError && err.code === 'NotPermitted') return PROXY_INIT_EXIT.notPermitted;
    if (err instanceof IptablesError && err.code === 'IptablesMissing') return PROXY_INIT_EXIT.iptablesMissing;
    return PROXY_INIT_EXIT.failed;
  }
  io.stdout(`proxy-init: ${command.action === 'remove' ? 'rules removed' : 'rules in place'}\n`);
  return PROXY_INIT_EXIT.ok;
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await runProxyInit(process.argv.slice(2), process.env, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  });
}
