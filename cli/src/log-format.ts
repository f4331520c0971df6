/** Fields shown in their own column, or not at all. */
const hidden = new Set(['level', 'msg', 'time', 'pid', 'hostname', 'service', 'replica']);

/** Options of {@link formatLogLine}. */
export interface LogLineFormat {
  /**
   * Who wrote the line (`destination-1`): starts the line, with the record's
   * time before it when the record has one. @default none, and no time either
   */
  source?: string;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** `HH:MM:SS.mmm` of an ISO time as services write it (UTC); other values as they are. */
function clock(time: unknown): string | undefined {
  if (typeof time === 'string') {
    const m = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(time);
    return m ? m[1]!.padEnd(12, '0') : time;
  }
  if (typeof time === 'number') return new Date(time).toISOString().slice(11, 23);
  return undefined;
}

/**
 * Renders one JSON log line (as meshbus services write them) as
 * `[time source] LEVEL message key=value ...`; any other text comes back
 * unchanged (after `[source]` when a source is given).
 */
export function formatLogLine(line: string, format: LogLineFormat = {}): string {
  const prefix = format.source === undefined ? '' : `[${format.source}] `;
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return prefix + line;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return prefix + line;
  const record = entry as Record<string, unknown>;
  const level = typeof record.level === 'string' ? record.level : typeof record.level === 'number' ? levelName(record.level) : 'log';
  const fields = Object.entries(record)
    .filter(([k]) => !hidden.has(k))
    .map(([k, v]) => `${k}=${value(v)}`);
  const head: string[] = [];
  if (format.source !== undefined) {
    const time = clock(record.time);
    if (time !== undefined) head.push(time);
    head.push(format.source);
  }
  return [...head, level.toUpperCase().padEnd(5), String(record.msg ?? ''), ...fields].join(' ').trimEnd();
}

function levelName(n: number): string {
  if (n >= 60) return 'fatal';
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  if (n >= 30) return 'info';
  if (n >= 20) return 'debug';
  return 'trace';
}
