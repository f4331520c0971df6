import { InvalidArgumentError } from 'commander';
import { parseIp } from '@meshbus/core';
import type { net } from '@meshbus/proxy-api';
import { UsageError } from './errors.js';
import { parseDnsLabel, parsePort } from './flags.js';

/** Exit code of the policy commands when an argument or flag is not acceptable. */
export const usageExitCode = 2;

/** A workload as written on the command line: `shop/web-1`. */
export interface WorkloadRef {
  namespace: string;
  workload: string;
}

const workloadName = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Parses `<namespace>/<workload>`; `what` names the argument in the message. */
export function parseWorkloadRef(text: string, what = 'workload'): WorkloadRef {
  const slash = text.indexOf('/');
  if (slash < 0 || text.indexOf('/', slash + 1) >= 0) {
    throw new UsageError(`${what} ${JSON.stringify(text)} must be <namespace>/<workload>, e.g. shop/web-1`);
  }
  const namespace = parseDnsLabel(text.slice(0, slash), `namespace of ${what}`);
  const workload = text.slice(slash + 1);
  // Workload names become NATS subject tokens: no dots there.
  if (!workloadName.test(workload) || workload.includes('.')) {
    throw new UsageError(`${what} name ${JSON.stringify(workload)} must be lowercase letters, digits and '-', at most 253 characters`);
  }
  return { namespace, workload };
}

/** The workload string a proxy sends in PortSpec and TrafficSpec: `{"ns":"shop","pod":"web-1"}`. */
export function workloadJson(ref: WorkloadRef): string {
  return JSON.stringify({ ns: ref.namespace, pod: ref.workload });
}

/** Parses `<ip>:<port>` (IPv6 in brackets) into the proxy API's TcpAddress. */
export function parseTcpAddress(text: string, what = '--address'): net.TcpAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):([^:]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} ${JSON.stringify(text)} must be <ip>:<port>, e.g. 10.0.0.7:8080 or [fd00::7]:8080`);
  const port = parsePort(m[3]!, `${what} port`);
  const host = m[1] ?? m[2]!;
  let ip;
  try {
    ip = parseIp(host);
  } catch {
    throw new UsageError(`${what} ${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IP address`);
  }
  if ((ip.family === 6) !== (m[1] !== undefined)) {
    throw new UsageError(`${what} ${JSON.stringify(text)}: write an IPv6 address in brackets, an IPv4 address without`);
  }
  const address: net.IPAddress =
    ip.family === 4
      ? { ip: { $case: 'ipv4', ipv4: ip.value } }
      : { ip: { $case: 'ipv6', ipv6: { first: BigInt.asUintN(64, ip.high), last: BigInt.asUintN(64, ip.low) } } };
  return { ip: address, port };
}

/**
 * Adapts a parser to commander like `parsedBy`, but with exit code 2: the
 * policy commands tell a bad argument (2) from a failed check or call (1).
 */
export function strictlyParsedBy<T>(parse: (text: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      const invalid = new InvalidArgumentError(err.message);
      invalid.exitCode = usageExitCode;
      throw invalid;
    }
  };
}
