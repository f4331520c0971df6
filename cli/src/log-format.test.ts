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
    expect(formatLogLine('plain text', { source: 'gateway-1' })).toBe('[gateway-1] plain text');
  });

  it('starts with the time and who wrote the line when given a source', () => {
    const line = JSON.stringify({
      level: 'info',
      time: '2026-12-01T20:41:03.120Z',
      service: 'destination',
      replica: 'destination-1',
      pid: 9,
      component: 'leader-election',
      msg: 'elected',
      term: 4,
    });
    expect(formatLogLine(line, { source: 'destination-1' })).toBe('20:41:03.120 destination-1 INFO  elected component=leader-election term=4');
    expect(formatLogLine('{"level":40,"time":1700000000000,"msg":"slow","note":""}', { source: 'gateway-2' })).toBe('22:13:20.000 gateway-2 WARN  slow note=""');
    expect(formatLogLine('{"level":30,"msg":"no time"}', { source: 'identity-1' })).toBe('identity-1 INFO  no time');
  });
});
