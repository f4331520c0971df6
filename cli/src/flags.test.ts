import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import {
  formatDuration,
  parseCount,
  parseDomain,
  parseDurationFlag,
  parseHostPort,
  parseIpAddress,
  parseLabel,
  parsePort,
  parsePortSpec,
  parseTarget,
} from './flags.js';

describe('parseTarget', () => {
  it('splits service, namespace and port', () => {
    expect(parseTarget('web.shop:80')).toEqual({ service: 'web', namespace: 'shop', port: 80 });
    expect(parseTarget(' api-v2.team-a:65535 ')).toEqual({ service: 'api-v2', namespace: 'team-a', port: 65535 });
  });

  it.each([
    ['web:80', /must be <service>\.<namespace>:<port>/],
    ['web.shop', /must be <service>\.<namespace>:<port>/],
    ['web.shop.svc.cluster.local:80', /must be <service>\.<namespace>:<port>/],
    ['web.shop:http', /target port must be a number/],
    ['web.shop:0', /target port 0 is out of range/],
    ['web.shop:70000', /out of range \(1 to 65535\)/],
    ['Web.shop:80', /service "Web" must be a DNS label/],
    ['web.sh_op:80', /namespace "sh_op" must be a DNS label/],
  ])('refuses %s', (text, message) => {
    expect(() => parseTarget(text)).toThrow(message);
    expect(() => parseTarget(text)).toThrow(UsageError);
  });
});

describe('port flags', () => {
  it('parses ports in range only', () => {
    expect(parsePort('1')).toBe(1);
    expect(parsePort('65535')).toBe(65535);
    expect(() => parsePort('65536')).toThrow(/65536 is out of range/);
    expect(() => parsePort('-1')).toThrow(/must be a number/);
    expect(() => parsePort('8.5')).toThrow(/must be a number/);
  });

  it('parses named and unnamed workload ports', () => {
    expect(parsePortSpec('8080')).toEqual({ port: 8080 });
    expect(parsePortSpec('http=8080')).toEqual({ name: 'http', port: 8080 });
    expect(() => parsePortSpec('HTTP=8080')).toThrow(/port name "HTTP"/);
    expect(() => parsePortSpec('a-very-long-port-name=1')).toThrow(/at most 15 characters/);
    expect(() => parsePortSpec('http=')).toThrow(/port http must be a number/);
  });

  it('parses host:port, with IPv6 in brackets', () => {
    expect(parseHostPort('127.0.0.1:8086')).toBe('127.0.0.1:8086');
    expect(parseHostPort('gateway.local:443')).toBe('gateway.local:443');
    expect(parseHostPort('[::1]:8086')).toBe('[::1]:8086');
    expect(() => parseHostPort('127.0.0.1')).toThrow(/must be host:port/);
    expect(() => parseHostPort('::1:8086')).toThrow(/must be host:port/);
    expect(() => parseHostPort('[nope]:1')).toThrow(/not an IPv6 address/);
    expect(() => parseHostPort('h:0', 'gateway')).toThrow(/gateway port 0 is out of range/);
  });
});

describe('labels', () => {
  it('parses key=value with optional prefix and empty value', () => {
    expect(parseLabel('app=web')).toEqual(['app', 'web']);
    expect(parseLabel('example.com/tier=front')).toEqual(['example.com/tier', 'front']);
    expect(parseLabel('canary=')).toEqual(['canary', '']);
    expect(parseLabel('version=1.2.3')).toEqual(['version', '1.2.3']);
  });

  it.each([
    ['app', /must be key=value/],
    ['=web', /must be key=value/],
    ['a b=c', /label key "a b"/],
    ['app=we b', /label value "we b"/],
    ['Bad_Prefix/x=1', /label prefix/],
    [`app=${'v'.repeat(64)}`, /at most 63 characters/],
  ])('refuses %s', (text, message) => {
    expect(() => parseLabel(text)).toThrow(message);
  });
});

describe('durations and counts', () => {
  it('parses durations within bounds', () => {
    expect(parseDurationFlag('5s', '--interval')).toBe(5000);
    expect(parseDurationFlag('250ms', '--interval', { minMs: 100 })).toBe(250);
    expect(() => parseDurationFlag('5', '--interval')).toThrow(/--interval "5" must be a duration such as 500ms/);
    expect(() => parseDurationFlag('50ms', '--interval', { minMs: 100 })).toThrow(/--interval 50ms is shorter than 100ms/);
    expect(() => parseDurationFlag('2h', '--interval', { maxMs: 3_600_000 })).toThrow(/longer than 1h/);
  });

  it('formats durations back', () => {
    expect([formatDuration(500), formatDuration(5000), formatDuration(120_000), formatDuration(7_200_000)]).toEqual(['500ms', '5s', '2m', '2h']);
  });

  it('parses counts within bounds', () => {
    expect(parseCount('2', '--replicas', { min: 1, max: 9 })).toBe(2);
    expect(() => parseCount('0', '--replicas', { min: 1, max: 9 })).toThrow(/from 1 to 9, got 0/);
    expect(() => parseCount('two', '--replicas', { min: 1, max: 9 })).toThrow(/whole number/);
  });

  it('parses domains and addresses', () => {
    expect(parseDomain('cluster.local')).toBe('cluster.local');
    expect(() => parseDomain('cluster..local')).toThrow(/DNS name/);
    expect(parseIpAddress('::1')).toBe('::1');
    expect(() => parseIpAddress('10.0.0.256')).toThrow(/not an IPv4 or IPv6 address/);
  });
});
