import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/core';
import { envBool, envByteSize, envDuration, envInt, parseByteSize, parseDuration, parseHostPort } from './env.js';

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

describe('parseByteSize', () => {
  it('reads bytes, binary and decimal units, in any case', () => {
    expect(parseByteSize('1048576')).toBe(1_048_576);
    expect(parseByteSize('64KiB')).toBe(65_536);
    expect(parseByteSize('512 mib')).toBe(512 * 2 ** 20);
    expect(parseByteSize('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseByteSize('100MB')).toBe(100_000_000);
    expect(parseByteSize('20b')).toBe(20);
  });

  it('refuses other text, naming the variable', () => {
    for (const bad of ['', '-1', '1 GiB extra', '1GiBs', '1e9', 'lots', '0x10']) expect(() => parseByteSize(bad), bad).toThrow(ConfigError);
    expect(() => parseByteSize('99999999TiB')).toThrow(/too large/);
    expect(envByteSize({}, 'S', 7)).toBe(7);
    expect(envByteSize({ S: '2KiB' }, 'S', 7)).toBe(2048);
    expect(() => envByteSize({ S: '2 gigs' }, 'S', 7)).toThrow(/^S: invalid size "2 gigs"/);
  });
});
