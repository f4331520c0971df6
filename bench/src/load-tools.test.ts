import { describe, expect, it } from 'vitest';
import { findOnPath, haproxyConfig, installHint, parseH2loadLog, parseWrkOutput, wrkScript } from './load-tools.js';

describe('wrk', () => {
  it('reads the figures line of its script among wrk\'s own output, latencies in ms', () => {
    const output = `Running 8s test @ http://127.0.0.1:4140
  1 threads and 32 connections
BENCH-WRK {"requests":16000,"durationUs":8000000,"p50":1500,"p90":2100,"p99":9870,"max":20100,"mean":1650.5,"connect":0,"read":1,"write":0,"timeout":2,"status":3}
Requests/sec:   2000.00
`;
    expect(parseWrkOutput(output)).toEqual({
      requests: 16000,
      durationS: 8,
      requestsPerSecond: 2000,
      p50: 1.5,
      p90: 2.1,
      p99: 9.87,
      max: 20.1,
      mean: 1.6505,
      errors: { connect: 0, read: 1, write: 0, timeout: 2, status: 3 },
    });
  });

  it('says so when wrk printed no figures, or a figure is missing', () => {
    expect(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/wrk printed no figures/);
    expect(() => parseWrkOutput('BENCH-WRK {"requests":1}')).toThrow(/durationUs is missing/);
  });

  it('writes the target and Host into its script, and refuses characters that would break it', () => {
    const script = wrkScript('http://plain.bench/', 'plain.bench');
    expect(script).toContain('wrk.path = "http://plain.bench/"');
    expect(script).toContain('wrk.headers["Host"] = "plain.bench"');
    expect(() => wrkScript('/"x', 'h')).toThrow(/must not contain quotes/);
  });
});

describe('h2load log', () => {
  const row = (startUs: number, status: number, us: number) => `${startUs}\t${status}\t${us}`;

  it('leaves out the warm-up, and gives nearest-rank percentiles, the rate and the failures', () => {
    const t0 = 1_700_000_000_000_000;
    const rows = [row(t0, 200, 99_000), row(t0 + 500_000, 200, 99_000)];
    // 100 measured requests, 10 ms apart, 1..100 µs; one without an answer.
    for (let i = 0; i < 100; i++) rows.push(row(t0 + 1_000_000 + i * 10_000, i === 50 ? -1 : 200, i + 1));
    const figures = parseH2loadLog(`${rows.join('\n')}\n`, 1);
    expect(figures.requests).toBe(100);
    expect(figures.p50).toBeCloseTo(0.05);
    expect(figures.p99).toBeCloseTo(0.099);
    expect(figures.max).toBeCloseTo(0.1);
    expect(figures.achievedRate).toBeCloseTo(100);
    expect(figures.failed).toBe(1);
    expect(figures.statuses).toEqual({ '200': 99, '-1': 1 });
  });

  it('refuses an empty or unreadable log', () => {
    expect(() => parseH2loadLog('', 1)).toThrow(/empty/);
    expect(() => parseH2loadLog('abc\t200\t5\n', 0)).toThrow(/unreadable line/);
    expect(() => parseH2loadLog(`${row(1, 200, 5)}\n`, 1)).toThrow(/no request after the 1 s warm-up/);
  });
});

describe('tools', () => {
  it('finds a program on PATH, and names the Debian packages of the missing ones', () => {
    expect(findOnPath('node', process.env.PATH)).toBeDefined();
    expect(findOnPath('no-such-program-here', process.env.PATH)).toBeUndefined();
    expect(installHint([])).toBeUndefined();
    expect(installHint(['wrk', 'h2load'])).toBe('wrk, h2load not found on PATH; on Debian or Ubuntu, as root: apt-get install -y wrk nghttp2-client');
  });

  it('configures HAProxy with one frontend and one backend server, keep-alive on both sides', () => {
    const cfg = haproxyConfig({ host: '127.0.0.1', port: 20001 }, { host: '127.0.0.51', port: 20002 }, 1);
    expect(cfg).toMatch(/nbthread 1\n/);
    expect(cfg).toMatch(/bind 127\.0\.0\.1:20001\n/);
    expect(cfg).toMatch(/server backend1 127\.0\.0\.51:20002 /);
    expect(cfg).toMatch(/http-reuse always/);
  });
});
