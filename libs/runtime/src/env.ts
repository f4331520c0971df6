import { ConfigError } from '@meshbus/core';
import { isLogLevel, logLevels } from './logger.js';

/** The process environment as read once by a service's main.ts. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads a string; `fallback` when unset or empty. */
export function envString(env: Env, name: string, fallback: string): string;
export function envString(env: Env, name: string): string | undefined;
export function envString(env: Env, name: string, fallback?: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

/** Reads a required string. */
export function envRequired(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new ConfigError(`${name} is required`);
  return v;
}

/** Reads an integer within bounds. */
export function envInt(env: Env, name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (bounds.min !== undefined && v < bounds.min) throw new ConfigError(`${name} must be >= ${bounds.min}, got ${v}`);
  if (bounds.max !== undefined && v > bounds.max) throw new ConfigError(`${name} must be <= ${bounds.max}, got ${v}`);
  return v;
}

/** Reads MESHBUS_LOG_LEVEL. */
export function envLogLevel(env: Env): string {
  const level = envString(env, 'MESHBUS_LOG_LEVEL', 'info');
  if (!isLogLevel(level)) throw new ConfigError(`MESHBUS_LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${JSON.stringify(level)}`);
  return level;
}

/** Reads a boolean (`true`/`false`/`1`/`0`). */
export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** Reads a duration in milliseconds, written as a number with a unit: `500ms`, `30s`, `5m`, `24h`. */
export function envDuration(env: Env, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `1.5m`, `24h`, `7d` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!m) throw new ConfigError(`invalid duration ${JSON.stringify(text)} (expected e.g. 500ms, 30s, 5m, 24h)`);
  return Math.round(Number(m[1]) * units[m[2]!]!);
}

/** Reads a size in bytes: a whole number of bytes, or with a unit such as `512MiB`, `1GiB`, `100MB`. */
export function envByteSize(env: Env, name: string, fallbackBytes: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackBytes;
  try {
    return parseByteSize(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

const sizeUnits: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Parses `1048576`, `64KiB`, `512MiB`, `1.5GiB` or `100MB` (decimal units) into whole bytes. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(`invalid size ${JSON.stringify(text)} (expected bytes, or e.g. 64KiB, 512MiB, 1GiB, 100MB)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(`size ${JSON.stringify(text)} is too large`);
  return bytes;
}

/** Splits `host:port` (IPv6 in brackets; empty host means all interfaces) into its parts. */
export function parseHostPort(value: string, name: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${name} must be host:port, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
