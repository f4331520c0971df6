import { isIP } from 'node:net';
import { isIpAddress } from '@meshbus/core';
import { parseDuration } from '@meshbus/runtime';
import { UsageError } from './errors.js';

/** A service port as written on the command line: `web.shop:80`. */
export interface Target {
  service: string;
  namespace: string;
  port: number;
}

/** A workload port, optionally named: `8080` or `http=8080`. */
export interface PortSpec {
  name?: string;
  port: number;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const portName = /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

/** Parses a TCP port, 1 to 65535. */
export function parsePort(text: string, what = 'port'): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UsageError(`${what} must be a number from 1 to 65535, got ${JSON.stringify(text)}`);
  const port = Number(t);
  if (port < 1 || port > 65535) throw new UsageError(`${what} ${port} is out of range (1 to 65535)`);
  return port;
}

/** Parses a DNS-1123 label such as a namespace or a service account. */
export function parseDnsLabel(text: string, what: string): string {
  if (!dnsLabel.test(text)) throw new UsageError(`${what} ${JSON.stringify(text)} must be a DNS label: lowercase letters, digits and '-', at most 63 characters`);
  return text;
}

/** Parses `<service>.<namespace>:<port>`. */
export function parseTarget(text: string): Target {
  const m = /^([^.:\s]+)\.([^.:\s]+):([^:]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`target ${JSON.stringify(text)} must be <service>.<namespace>:<port>, e.g. web.shop:80`);
  return {
    service: parseDnsLabel(m[1]!, 'service'),
    namespace: parseDnsLabel(m[2]!, 'namespace'),
    port: parsePort(m[3]!, 'target port'),
  };
}

/** Parses `host:port`, with an IPv6 host in brackets. Returns it normalized. */
export function parseHostPort(text: string, what = 'address'): string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):([^:]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} ${JSON.stringify(text)} must be host:port, e.g. 127.0.0.1:8086`);
  const port = parsePort(m[3]!, `${what} port`);
  if (m[1] !== undefined) {
    if (isIP(m[1]) !== 6) throw new UsageError(`${what} ${JSON.stringify(text)}: ${m[1]} is not an IPv6 address`);
    return `[${m[1]}]:${port}`;
  }
  return `${m[2]}:${port}`;
}

/** Parses a DNS domain such as `cluster.local`. */
export function parseDomain(text: string, what = 'domain'): string {
  const labels = text.split('.');
  if (text.length > 253 || labels.some((l) => !dnsLabel.test(l))) {
    throw new UsageError(`${what} ${JSON.stringify(text)} must be a DNS name such as cluster.local`);
  }
  return text;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIpAddress(text: string): string {
  if (!isIpAddress(text)) throw new UsageError(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  return text;
}

/** Parses `8080` or `http=8080`. */
export function parsePortSpec(text: string): PortSpec {
  const eq = text.indexOf('=');
  if (eq < 0) return { port: parsePort(text) };
  const name = text.slice(0, eq);
  if (!portName.test(name)) {
    throw new UsageError(`port name ${JSON.stringify(name)} must be lowercase letters, digits and '-', at most 15 characters`);
  }
  return { name, port: parsePort(text.slice(eq + 1), `port ${name}`) };
}

const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Parses a Kubernetes-style label `key=value`; the key may have a DNS prefix (`example.com/tier`). */
export function parseLabel(text: string): [key: string, value: string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`label ${JSON.stringify(text)} must be key=value`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) parseDomain(prefix, `label prefix of ${JSON.stringify(key)}`);
  if (!labelName.test(name)) {
    throw new UsageError(`label key ${JSON.stringify(key)}: the name must be letters, digits, '-', '_' or '.', at most 63 characters`);
  }
  if (!labelValue.test(value)) {
    throw new UsageError(`label value ${JSON.stringify(value)} of ${key}: letters, digits, '-', '_' or '.', at most 63 characters`);
  }
  return [key, value];
}

/** Parses a duration such as `500ms`, `5s` or `1m` within bounds, in milliseconds. */
export function parseDurationFlag(text: string, what: string, bounds: { minMs?: number; maxMs?: number } = {}): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UsageError(`${what} ${JSON.stringify(text)} must be a duration such as 500ms, 5s or 1m`);
  }
  if (bounds.minMs !== undefined && ms < bounds.minMs) throw new UsageError(`${what} ${text} is shorter than ${formatDuration(bounds.minMs)}`);
  if (bounds.maxMs !== undefined && ms > bounds.maxMs) throw new UsageError(`${what} ${text} is longer than ${formatDuration(bounds.maxMs)}`);
  return ms;
}

/** Parses a whole number within bounds. */
export function parseCount(text: string, what: string, bounds: { min: number; max: number }): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what} must be a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < bounds.min || n > bounds.max) throw new UsageError(`${what} must be from ${bounds.min} to ${bounds.max}, got ${n}`);
  return n;
}

/** Renders milliseconds the way durations are written on the command line. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
