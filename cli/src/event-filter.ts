import type { BusEvent, StartPosition } from '@meshbus/bus';
import { catalog, type EventKind } from '@meshbus/bus-schemas';
import { UsageError } from './errors.js';
import { parseDurationFlag } from './flags.js';
import type { StreamSelection } from './event-subjects.js';

/** What `meshbus events` keeps of what it reads. Every given criterion must hold. */
export interface EventFilter {
  /** CloudEvents types or globs (`*` for any run of characters); any one may match. */
  types?: readonly string[];
  namespace?: string;
  name?: string;
}

/** Where to start reading, as given on the command line. */
export interface StartFlags {
  replay?: boolean;
  since?: string;
  fromSeq?: number;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** Parses `--since`: a duration back from `now` (`10m`, `2h`, `1d`) or an RFC 3339 time. */
export function parseSince(text: string, now: Date): Date {
  const t = text.trim();
  if (/^\d+(\.\d+)?\s*[a-z]+$/i.test(t)) {
    const ms = parseDurationFlag(t, '--since', { minMs: 1 });
    return new Date(now.getTime() - ms);
  }
  const time = rfc3339.test(t) ? new Date(t) : new Date(NaN);
  if (Number.isNaN(time.getTime())) {
    throw new UsageError(`--since ${JSON.stringify(text)} must be a duration such as 10m, 2h or 1d, or an RFC 3339 time such as 2026-12-01T10:00:00Z`);
  }
  if (time.getTime() > now.getTime()) throw new UsageError(`--since ${text} is in the future`);
  return time;
}

/** Parses `--from-seq`: a stream sequence, from 1. */
export function parseSequence(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < 1 || !Number.isSafeInteger(Number(t))) {
    throw new UsageError(`--from-seq must be a stream sequence (a whole number from 1), got ${JSON.stringify(text)}`);
  }
  return Number(t);
}

/**
 * The start position for each selected stream. At most one of `--replay`,
 * `--since` and `--from-seq`; a sequence belongs to one stream, so
 * `--from-seq` needs a `--subject` within one of them.
 */
export function startPosition(flags: StartFlags, selections: readonly StreamSelection[], now: Date): StartPosition {
  const given = [flags.replay && '--replay', flags.since !== undefined && '--since', flags.fromSeq !== undefined && '--from-seq'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} cannot be used together: each says where to start`);
  if (flags.fromSeq !== undefined) {
    if (selections.length !== 1) {
      throw new UsageError(
        `--from-seq is a sequence of one stream: add --subject within ${selections.map((s) => `${s.filter} (${s.stream})`).join(' or ')}`,
      );
    }
    return { seq: flags.fromSeq };
  }
  if (flags.since !== undefined) return { time: parseSince(flags.since, now) };
  return flags.replay ? 'all' : 'new';
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`);
}

/** Checks `--type` values: each must match at least one type of the catalogue, so a typo is not a silent empty stream. */
export function validateTypes(types: readonly string[]): string[] {
  const known = (Object.keys(catalog) as EventKind[]).map((k) => catalog[k].type);
  for (const t of types) {
    if (!/^[A-Za-z0-9.*-]+$/.test(t)) throw new UsageError(`--type ${JSON.stringify(t)} must be a CloudEvents type such as io.meshbus.v1.endpoints.snapshot; '*' matches any characters`);
    const re = globToRegExp(t);
    if (!known.some((k) => re.test(k))) {
      throw new UsageError(`--type ${t} matches no event type; the types are ${known.filter((k) => !k.endsWith('.request') && !k.endsWith('.reply') && !k.endsWith('.response')).join(', ')}`);
    }
  }
  return [...types];
}

/** The namespace and name an event is about: from its data when it says, else from its CloudEvents subject (`<namespace>/<name>/…`). */
export function eventScope(event: BusEvent): { namespace?: string; name?: string } {
  const data = (typeof event.data === 'object' && event.data !== null ? event.data : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const parts = event.subject.split('/');
  const fromSubject = parts.length >= 2 ? { namespace: text(parts[0]), name: text(parts[1]?.replace(/\*$/, '')) } : {};
  const namespace = text(data.namespace) ?? fromSubject.namespace;
  const name = text(data.name) ?? text(data.service) ?? text(data.workload) ?? text(data.generateName) ?? fromSubject.name;
  return { namespace, name };
}

/** A predicate for {@link EventFilter}. */
export function eventMatcher(filter: EventFilter): (event: BusEvent) => boolean {
  const types = filter.types?.length ? filter.types.map(globToRegExp) : undefined;
  return (event) => {
    if (types && !types.some((re) => re.test(event.type))) return false;
    if (filter.namespace === undefined && filter.name === undefined) return true;
    const scope = eventScope(event);
    if (filter.namespace !== undefined && scope.namespace !== filter.namespace) return false;
    if (filter.name !== undefined && scope.name !== filter.name) return false;
    return true;
  };
}
