import { describe, expect, it } from 'vitest';
import { BenchFlagError, defaultBenchFlags, MAX_POLICY_ROUNDS, MAX_STREAMS, parseBenchFlags } from './flags.js';

describe('parseBenchFlags', () => {
  it('defaults to every benchmark at 100, 1,000 and 10,000 streams, 5 rounds, 100 policy rounds', () => {
    expect(parseBenchFlags([])).toEqual(defaultBenchFlags);
    expect(defaultBenchFlags).toMatchObject({ only: undefined, streams: [100, 1000, 10_000], rounds: 5, policyRounds: 100, proxyDuration: 6, cpuProf: false });
  });

  it('reads values after a space or an equals sign', () => {
    expect(parseBenchFlags(['--only', 'fanout', '--streams', '1000', '--rounds', '3'])).toMatchObject({ only: 'fanout', streams: [1000], rounds: 3 });
    expect(parseBenchFlags(['--only=identity', '--rounds=10'])).toMatchObject({ only: 'identity', rounds: 10 });
    expect(parseBenchFlags(['--only', 'policy', '--policy-rounds', '20'])).toMatchObject({ only: 'policy', policyRounds: 20 });
    expect(parseBenchFlags(['--only=proxy', '--proxy-duration', '3'])).toMatchObject({ only: 'proxy', proxyDuration: 3 });
    expect(parseBenchFlags(['--proxy-cases', 'meshbus-mesh,direct']).proxyCases).toEqual(['direct', 'meshbus-mesh']);
    expect(parseBenchFlags(['--proxy-rate', '200']).proxyRate).toBe(200);
    expect(parseBenchFlags(['--only', 'injector', '--injector-rate=500', '--injector-duration', '3'])).toMatchObject({ only: 'injector', injectorRate: 500, injectorDuration: 3 });
  });

  it('sorts stream counts and drops repeats', () => {
    expect(parseBenchFlags(['--streams', '10000, 100,1000,100']).streams).toEqual([100, 1000, 10_000]);
  });

  it('accepts --cpu-prof and --help', () => {
    expect(parseBenchFlags(['--cpu-prof']).cpuProf).toBe(true);
    expect(parseBenchFlags(['--help']).help).toBe(true);
    expect(parseBenchFlags(['-h']).help).toBe(true);
  });

  it.each([
    [['--only', 'network'], /--only expects fanout, identity, destination, policy, proxy or injector/],
    [['--injector-rate', '0'], /--injector-rate must be within 1\.\.20000/],
    [['--proxy-duration', '0'], /within 1\.\.600/],
    [['--proxy-duration', '5s'], /whole number/],
    [['--proxy-rate', '995'], /multiple of 10/],
    [['--proxy-rate', '0'], /within 1\.\.100000/],
    [['--proxy-cases', 'direct,envoy'], /--proxy-cases expects a comma-separated list of direct, haproxy/],
    [['--policy-rounds', '0'], /within 1\.\.2000/],
    [['--policy-rounds', String(MAX_POLICY_ROUNDS + 1)], /within 1\.\.2000/],
    [['--policy-rounds', '1.5'], /whole number/],
    [['--streams', '100,,1000'], /comma-separated list/],
    [['--streams', '1e3'], /whole number/],
    [['--streams', '0'], /within 1\.\.50000/],
    [['--streams', String(MAX_STREAMS + 1)], /within 1\.\.50000/],
    [['--rounds', '-1'], /whole number/],
    [['--rounds', 'many'], /whole number/],
    [['--rounds'], /--rounds needs a value/],
    [['--streams', '--rounds', '3'], /--streams needs a value/],
    [['--rounds', '2', '--rounds', '3'], /more than once/],
    [['--fast'], /unknown flag --fast/],
    [['fanout'], /unexpected argument "fanout"/],
    [['--cpu-prof=yes'], /takes no value/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBenchFlags(argv)).toThrow(BenchFlagError);
    expect(() => parseBenchFlags(argv)).toThrow(message);
  });
});
