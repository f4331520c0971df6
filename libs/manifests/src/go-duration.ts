const unitNanos: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const whole = /^([+-]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const part = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g;

/**
 * Parses a duration written the Go way (`300ms`, `1s`, `1m30s`, `1.5h`, `0`)
 * into whole milliseconds, rounding a fraction of a millisecond up (so a
 * short positive duration never becomes 0). Returns undefined when `text` is
 * not such a duration.
 */
export function goDurationToMs(text: string): number | undefined {
  if (/^[+-]?0$/.test(text)) return 0;
  const m = whole.exec(text);
  if (!m || m[2]!.length > 100) return undefined;
  let nanos = 0n;
  for (const [, intPart = '', fracPart = '', unit] of m[2]!.matchAll(part)) {
    const scale = 10n ** BigInt(fracPart.length);
    const perUnit = unitNanos[unit!]!;
    nanos += BigInt(intPart || '0') * perUnit + (BigInt(fracPart || '0') * perUnit) / scale;
  }
  const ms = Number((nanos + 999_999n) / 1_000_000n);
  return m[1] === '-' ? -ms : ms;
}
