import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { defaultMetricsRetention, metricsRetentionFromEnv } from './streams.js';

describe('metricsRetentionFromEnv', () => {
  it('defaults to one hour and 1 GiB', () => {
    expect(metricsRetentionFromEnv({})).toEqual({ maxAgeMs: 3_600_000, maxBytes: 1_073_741_824 });
    expect(defaultMetricsRetention).toEqual({ maxAgeMs: 3_600_000, maxBytes: 1_073_741_824 });
  });

  it('reads MESHBUS_METRICS_MAX_AGE and MESHBUS_METRICS_MAX_BYTES', () => {
    expect(metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_AGE: '6h', MESHBUS_METRICS_MAX_BYTES: '256MiB' })).toEqual({ maxAgeMs: 6 * 3_600_000, maxBytes: 256 * 2 ** 20 });
    expect(metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_AGE: '1m', MESHBUS_METRICS_MAX_BYTES: '1048576' })).toEqual({ maxAgeMs: 60_000, maxBytes: 1_048_576 });
  });

  it('refuses bad values, naming the variable', () => {
    expect(() => metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_AGE: '1 hour' })).toThrow(/^MESHBUS_METRICS_MAX_AGE: invalid duration "1 hour"/);
    expect(() => metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_AGE: '30s' })).toThrow(/MESHBUS_METRICS_MAX_AGE must be at least 1m, got "30s"/);
    expect(() => metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_BYTES: 'big' })).toThrow(/^MESHBUS_METRICS_MAX_BYTES: invalid size "big"/);
    expect(() => metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_BYTES: '512KiB' })).toThrow(/MESHBUS_METRICS_MAX_BYTES must be at least 1MiB, got "512KiB"/);
    expect(() => metricsRetentionFromEnv({ MESHBUS_METRICS_MAX_BYTES: '-1' })).toThrow(ConfigError);
  });
});
