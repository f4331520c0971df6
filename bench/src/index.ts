export { runFanoutBench, FANOUT_TARGET_RATIO, FANOUT_TARGET_BYTES_PER_STREAM } from './fanout-bench.js';
export type { FanoutBenchOptions, FanoutBenchResult, FanoutStep, PathFigures, RoundFigure, MemoryFigure } from './fanout-bench.js';
export { runIdentityBench, IDENTITY_BENCH_TARGET_PER_SECOND, IDENTITY_BENCH_TARGET_RATIO } from './identity-bench.js';
export type { IdentityBenchOptions, IdentityBenchResult, ThroughputFigure } from './identity-bench.js';
export { runIdentityBusBench } from './identity-bus-bench.js';
export type { IdentityBusBenchOptions, IdentityBusBenchResult } from './identity-bus-bench.js';
export { parseBenchFlags, BenchFlagError, benchUsage, type BenchFlags } from './flags.js';
export { percentile, summarize, median, type LatencySummary } from './stats.js';
