import { streams } from '@meshbus/bus-schemas';
import { UsageError } from './errors.js';

/** One stream to read and the filter to read it with. */
export interface StreamSelection {
  stream: string;
  filter: string;
}

/** Checks NATS subject syntax: dot-separated non-empty tokens, `*` a whole token, `>` only last. */
export function validateSubjectFilter(subject: string): string[] {
  const tokens = subject.split('.');
  tokens.forEach((t, i) => {
    if (t === '' || /\s/.test(t)) throw new UsageError(`subject ${JSON.stringify(subject)} has an empty or blank token`);
    if (t !== '*' && t !== '>' && /[*>]/.test(t)) throw new UsageError(`subject ${JSON.stringify(subject)}: wildcards '*' and '>' must be whole tokens`);
    if (t === '>' && i !== tokens.length - 1) throw new UsageError(`subject ${JSON.stringify(subject)}: '>' may only be the last token`);
  });
  return tokens;
}

/**
 * The subjects matched by both patterns, as one pattern, or undefined when
 * none is. Two NATS subject patterns always intersect in at most one pattern.
 */
export function intersectSubjects(a: string, b: string): string | undefined {
  const x = a.split('.');
  const y = b.split('.');
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const s = x[i];
    const t = y[i];
    // '>' stands for one or more tokens.
    if (s === '>') return t === undefined ? undefined : [...out, ...y.slice(i)].join('.');
    if (t === '>') return s === undefined ? undefined : [...out, ...x.slice(i)].join('.');
    if (s === undefined || t === undefined) return s === t ? out.join('.') : undefined;
    if (s === '*') out.push(t);
    else if (t === '*' || s === t) out.push(s);
    else return undefined;
  }
}

/**
 * Which streams `meshbus events` reads, and with which filter: the whole
 * state and events streams without a filter, else each stream whose subjects
 * the filter overlaps, narrowed to the overlap. The traffic summaries
 * (MESHBUS_METRICS, a summary per proxy every few seconds) are read only for
 * a filter that names them, `meshbus.v1.metrics.…`: a wildcard in their place
 * (`meshbus.v1.>`, `meshbus.v1.*.leader.*`) leaves them out.
 */
export function selectStreams(filter?: string): StreamSelection[] {
  const usual = [streams.state, streams.events];
  if (filter === undefined) return usual.map((s) => ({ stream: s.name, filter: s.subjects[0] }));
  const tokens = validateSubjectFilter(filter);
  const all = tokens[2] === 'metrics' ? [...usual, streams.metrics] : usual;
  const selected: StreamSelection[] = [];
  for (const s of all) {
    const overlap = intersectSubjects(filter, s.subjects[0]);
    if (overlap) selected.push({ stream: s.name, filter: overlap });
  }
  if (selected.length === 0) {
    const known = [...usual, streams.metrics].map((s) => `${s.subjects[0]} (${s.name})`).join(', ').replace(/, ([^,]*)$/, ' or $1');
    throw new UsageError(`subject ${JSON.stringify(filter)} is in no stream: it must fall within ${known}`);
  }
  return selected;
}
