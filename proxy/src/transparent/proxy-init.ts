import { formatCidr, MeshbusError, parseCidr, type Cidr } from '@meshbus/core';

/** A proxy-init option is missing or invalid; the message names the option. */
export class ProxyInitConfigError extends MeshbusError {
  override name = 'ProxyInitConfigError';
  constructor(message: string) {
    super('InvalidProxyInitConfig', message);
  }
}

/** The chain that PREROUTING jumps to: the pod's inbound TCP. */
export const INBOUND_CHAIN = 'MESHBUS_PROXY_INBOUND';
/** The chain that OUTPUT jumps to: TCP the pod's processes open. */
export const OUTBOUND_CHAIN = 'MESHBUS_PROXY_OUTBOUND';

/** A TCP port or an inclusive range of ports. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** What the rules redirect and what they leave alone. */
export interface ProxyInitOptions {
  /** The uid the proxy runs as: its own connections are never redirected. */
  readonly proxyUid: number;
  /** The proxy's inbound listener. @default 4143 */
  readonly inboundPort?: number;
  /** The proxy's outbound listener. @default 4140 */
  readonly outboundPort?: number;
  /** Ports of the workload whose inbound connections are redirected. @default all ports */
  readonly redirectInboundPorts?: readonly (string | number)[];
  /** Inbound ports that reach the workload directly (e.g. the proxy's admin port). @default none */
  readonly skipInboundPorts?: readonly (string | number)[];
  /** Destination ports the workload reaches directly. @default none */
  readonly skipOutboundPorts?: readonly (string | number)[];
  /** Destination networks the workload reaches directly (`10.0.0.0/8`, `fd00::/8`, a bare address). @default none */
  readonly skipOutboundSubnets?: readonly string[];
  /** Also write IPv6 rules (for ip6tables). @default false */
  readonly ipv6?: boolean;
}

/** {@link ProxyInitOptions} checked, with defaults applied. */
export interface ProxyInitConfig {
  readonly proxyUid: number;
  readonly inboundPort: number;
  readonly outboundPort: number;
  /** Empty: every port. */
  readonly redirectInboundPorts: readonly PortRange[];
  readonly skipInboundPorts: readonly PortRange[];
  readonly skipOutboundPorts: readonly PortRange[];
  readonly skipOutboundSubnets: readonly Cidr[];
  readonly ipv6: boolean;
}

export const DEFAULT_INBOUND_PORT = 4143;
export const DEFAULT_OUTBOUND_PORT = 4140;

function checkPort(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ProxyInitConfigError(`${field}: ${JSON.stringify(value)} is not a TCP port (a whole number from 1 to 65535)`);
  }
  return value;
}

/** Reads `8080`, `8000-8100` or `8000:8100`. */
export function parsePortRange(value: string | number, field: string): PortRange {
  if (typeof value === 'number') {
    const port = checkPort(value, field);
    return { from: port, to: port };
  }
  const text = value.trim();
  const match = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(text);
  if (!match) throw new ProxyInitConfigError(`${field}: ${JSON.stringify(value)} is not a port or a range of ports (write 8080 or 8000-8100)`);
  const from = checkPort(Number(match[1]), field);
  const to = match[2] === undefined ? from : checkPort(Number(match[2]), field);
  if (to < from) throw new ProxyInitConfigError(`${field}: the range ${JSON.stringify(value)} ends before it starts`);
  return { from, to };
}

function portList(values: readonly (string | number)[] | undefined, field: string): PortRange[] {
  return (values ?? []).map((v, i) => parsePortRange(v, `${field}[${i}]`));
}

/** Checks the options and applies the defaults; throws {@link ProxyInitConfigError} naming the field. */
export function proxyInitConfig(options: ProxyInitOptions): ProxyInitConfig {
  if (!Number.isInteger(options.proxyUid) || options.proxyUid < 0 || options.proxyUid > 0xffff_fffe) {
    throw new ProxyInitConfigError(`proxyUid: ${JSON.stringify(options.proxyUid)} is not a uid (a whole number from 0)`);
  }
  const inboundPort = checkPort(options.inboundPort ?? DEFAULT_INBOUND_PORT, 'inboundPort');
  const outboundPort = checkPort(options.outboundPort ?? DEFAULT_OUTBOUND_PORT, 'outboundPort');
  if (inboundPort === outboundPort) throw new ProxyInitConfigError(`inboundPort and outboundPort are both ${inboundPort}: the proxy needs two listeners`);
  const skipOutboundSubnets = (options.skipOutboundSubnets ?? []).map((text, i) => {
    const cidr = parseCidr(text.trim());
    if ('error' in cidr) throw new ProxyInitConfigError(`skipOutboundSubnets[${i}]: ${cidr.error}`);
    return cidr;
  });
  return {
    proxyUid: options.proxyUid,
    inboundPort,
    outboundPort,
    redirectInboundPorts: portList(options.redirectInboundPorts, 'redirectInboundPorts'),
    skipInboundPorts: portList(options.skipInboundPorts, 'skipInboundPorts'),
    skipOutboundPorts: portList(options.skipOutboundPorts, 'skipOutboundPorts'),
    skipOutboundSubnets,
    ipv6: options.ipv6 ?? false,
  };
}

/** Which tool a command is for: `iptables` (IPv4) or `ip6tables`. */
export type IptablesFamily = 'ipv4' | 'ipv6';

/**
 * One step of a plan: run `args`, unless `unless` is given and succeeds
 * (exits 0) first. `unless` is how a step is made idempotent: a chain is
 * created only when listing it fails, a jump is added only when `-C` does not
 * find it.
 */
export interface IptablesStep {
  readonly family: IptablesFamily;
  readonly args: readonly string[];
  readonly unless?: readonly string[];
  /** For a removal plan: the step may fail (the rule or chain is already gone). */
  readonly mayFail?: boolean;
}

// The multiport match takes at most 15 ports, a range counting as two.
const MULTIPORT_LIMIT = 15;

function portGroups(ports: readonly PortRange[]): string[] {
  const groups: string[] = [];
  let current: string[] = [];
  let weight = 0;
  for (const p of ports) {
    const w = p.from === p.to ? 1 : 2;
    if (weight + w > MULTIPORT_LIMIT) {
      groups.push(current.join(','));
      current = [];
      weight = 0;
    }
    current.push(p.from === p.to ? String(p.from) : `${p.from}:${p.to}`);
    weight += w;
  }
  if (current.length > 0) groups.push(current.join(','));
  return groups;
}

function portMatch(group: string): string[] {
  return ['-p', 'tcp', '-m', 'multiport', '--dports', group];
}

const NAT = ['-t', 'nat'];

function chainSteps(family: IptablesFamily, chain: string, rules: readonly (readonly string[])[]): IptablesStep[] {
  return [
    { family, args: [...NAT, '-N', chain], unless: [...NAT, '-n', '-L', chain] },
    { family, args: [...NAT, '-F', chain] },
    ...rules.map((rule) => ({ family, args: [...NAT, '-A', chain, ...rule] })),
  ];
}

function jumpStep(family: IptablesFamily, from: string, to: string): IptablesStep {
  const rule = [from, '-p', 'tcp', '-j', to];
  return { family, args: [...NAT, '-A', ...rule], unless: [...NAT, '-C', ...rule] };
}

function inboundRules(config: ProxyInitConfig): string[][] {
  const rules: string[][] = [];
  for (const group of portGroups(config.skipInboundPorts)) rules.push([...portMatch(group), '-j', 'RETURN']);
  const redirect = ['-j', 'REDIRECT', '--to-ports', String(config.inboundPort)];
  if (config.redirectInboundPorts.length === 0) rules.push(['-p', 'tcp', ...redirect]);
  else for (const group of portGroups(config.redirectInboundPorts)) rules.push([...portMatch(group), ...redirect]);
  return rules;
}

function outboundRules(config: ProxyInitConfig, family: IptablesFamily): string[][] {
  const loopback = family === 'ipv4' ? '127.0.0.0/8' : '::1/128';
  const rules: string[][] = [
    ['-m', 'owner', '--uid-owner', String(config.proxyUid), '-j', 'RETURN'],
    // The workload talking to itself (localhost, or its own pod address, which leaves through lo).
    ['-o', 'lo', '-j', 'RETURN'],
    ['-d', loopback, '-j', 'RETURN'],
  ];
  for (const group of portGroups(config.skipOutboundPorts)) rules.push([...portMatch(group), '-j', 'RETURN']);
  const wanted = family === 'ipv4' ? 4 : 6;
  for (const cidr of config.skipOutboundSubnets) if (cidr.family === wanted) rules.push(['-d', formatCidr(cidr), '-j', 'RETURN']);
  rules.push(['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(config.outboundPort)]);
  return rules;
}

function families(config: ProxyInitConfig): IptablesFamily[] {
  return config.ipv6 ? ['ipv4', 'ipv6'] : ['ipv4'];
}

/**
 * The steps that install the redirect rules in the nat table. Applying the
 * plan again leaves the same single set of rules: the project's chains are
 * created when missing and flushed before they are filled, and the jumps from
 * PREROUTING and OUTPUT are added only when `-C` does not find them.
 */
export function proxyInitPlan(config: ProxyInitConfig): IptablesStep[] {
  return families(config).flatMap((family) => [
    ...chainSteps(family, INBOUND_CHAIN, inboundRules(config)),
    ...chainSteps(family, OUTBOUND_CHAIN, outboundRules(config, family)),
    jumpStep(family, 'PREROUTING', INBOUND_CHAIN),
    jumpStep(family, 'OUTPUT', OUTBOUND_CHAIN),
  ]);
}

/** The steps that take the rules out again: the jumps, then the project's chains. */
export function proxyInitRemovalPlan(options: { readonly ipv6?: boolean } = {}): IptablesStep[] {
  return (options.ipv6 ? (['ipv4', 'ipv6'] as const) : (['ipv4'] as const)).flatMap((family) => [
    { family, args: [...NAT, '-D', 'PREROUTING', '-p', 'tcp', '-j', INBOUND_CHAIN], mayFail: true },
    { family, args: [...NAT, '-D', 'OUTPUT', '-p', 'tcp', '-j', OUTBOUND_CHAIN], mayFail: true },
    { family, args: [...NAT, '-F', INBOUND_CHAIN], mayFail: true },
    { family, args: [...NAT, '-X', INBOUND_CHAIN], mayFail: true },
    { family, args: [...NAT, '-F', OUTBOUND_CHAIN], mayFail: true },
    { family, args: [...NAT, '-X', OUTBOUND_CHAIN], mayFail: true },
  ]);
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The plan as a POSIX shell script, for `--dry-run` and for reading. */
export function planToShell(plan: readonly IptablesStep[], commands: { readonly ipv4: string; readonly ipv6: string } = { ipv4: 'iptables', ipv6: 'ip6tables' }): string {
  const lines = plan.map((step) => {
    const cmd = commands[step.family];
    const run = [cmd, ...step.args].map(shellWord).join(' ');
    if (step.unless) return `${[cmd, ...step.unless].map(shellWord).join(' ')} >/dev/null 2>&1 || ${run}`;
    if (step.mayFail) return `${run} 2>/dev/null || true`;
    return run;
  });
  return `${lines.join('\n')}\n`;
}
