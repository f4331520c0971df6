import type { PortRange } from './resources.js';

/**
 * Parses a comma-separated list of ports and inclusive ranges, such as
 * `3306, 5000-5002`, into sorted, merged ranges. Returns a reason when the
 * text is not such a list.
 */
export function parsePortRanges(text: string): { ranges: PortRange[] } | { error: string } {
  const ranges: PortRange[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(item);
    if (!m) return { error: `${JSON.stringify(item)} is not a port or a range of ports (e.g. 3306 or 5000-5002)` };
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min < 1 || max > 65535) return { error: `${JSON.stringify(item)}: ports are between 1 and 65535` };
    if (min > max) return { error: `${JSON.stringify(item)}: the range ends before it starts` };
    ranges.push({ min, max });
  }
  ranges.sort((a, b) => a.min - b.min || a.max - b.max);
  const merged: PortRange[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.min <= last.max + 1) merged[merged.length - 1] = { min: last.min, max: Math.max(last.max, r.max) };
    else merged.push(r);
  }
  return { ranges: merged };
}
