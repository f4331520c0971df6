import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/core';
import { envBool, envDuration, envInt, parseDuration, parseHostPort } from './env.js';

describe('parseHostPort', () => {
  it('accepts host:port, [v6]:port and :port', () => {
    expect(parseHostPort('127.0.0.1:9990', 'X')).toEqual({ host: '127.0.0.1', port: 9990 });
    expect(parseHostPort('[::]:9990', 'X')).toEqual({ host: '::', port: 9990 });
    expect(parseHostPort(':9990', 'X')).toEqual({ host: '0.0.0.0', port: 9990 });
    expect(() => parseHostPort('::1:9990', 'X')).toThrow(ConfigError);
  });
});

describe('env readers', () => {
  it('parse typed values and name the variable when one is wrong', () => {
    expect(envInt({ N: '42' }, 'N', 1)).toBe(42);
    expect(envInt({}, 'N', 1)).toBe(1);
    expect(() => envInt({ N: '4x' }, 'N', 1)).toThrow(/N must be an integer/);
    expect(() => envInt({ N: '0' }, 'N', 1, { min: 1 })).toThrow(ConfigError);
    expect(envBool({ B: 'true' }, 'B', false)).toBe(true);
    expect(() => envBool({ B: 'yes' }, 'B', false)).toThrow(/B must be true or false/);
    expect(envDuration({ D: '1.5s' }, 'D', 0)).toBe(1500);
    expect(() => envDuration({ D: '10' }, 'D', 0)).toThrow(/D: invalid duration/);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('250ms')).toBe(250);
  });
});
