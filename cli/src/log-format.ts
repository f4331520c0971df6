const hidden = new Set(['level', 'msg', 'time', 'pid', 'hostname', 'service']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/**
 * Renders one JSON log line (as meshbus services write them) as
 * `LEVEL message key=value ...`; any other text comes back unchanged.
 */
export function formatLogLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return line;
  const record = entry as Record<string, unknown>;
  const level = typeof record.level === 'string' ? record.level : typeof record.level === 'number' ? levelName(record.level) : 'log';
  const fields = Object.entries(record)
    .filter(([k]) => !hidden.has(k))
    .map(([k, v]) => `${k}=${value(v)}`);
  return [level.toUpperCase().padEnd(5), String(record.msg ?? ''), ...fields].join(' ').trimEnd();
}

function levelName(n: number): string {
  if (n >= 60) return 'fatal';
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  if (n >= 30) return 'info';
  if (n >= 20) return 'debug';
  return 'trace';
}
