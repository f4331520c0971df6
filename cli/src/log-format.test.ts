import { describe, expect, it } from 'vitest';
import { formatLogLine } from './log-format.js';

describe('formatLogLine', () => {
  it('prints level, message and the other fields of a JSON log line', () => {
    const line = JSON.stringify({ level: 'warn', time: '2025-03-01T12:00:00Z', service: 'gateway', pid: 7, msg: 'dropped malformed bus message', subject: 'a.b', seq: 3, error: 'not json' });
    expect(formatLogLine(line)).toBe('WARN  dropped malformed bus message subject=a.b seq=3 error="not json"');
  });

  it('maps numeric pino levels', () => {
    expect(formatLogLine('{"level":30,"msg":"up"}')).toBe('INFO  up');
    expect(formatLogLine('{"level":50,"msg":"down","err":{"message":"x"}}')).toBe('ERROR down err={"message":"x"}');
  });

  it('leaves other text alone', () => {
    expect(formatLogLine('plain text')).toBe('plain text');
    expect(formatLogLine('[1,2]')).toBe('[1,2]');
  });
});
