import { describe, expect, it } from 'vitest';
import { tracingConfigFromEnv } from './config.js';

describe('tracingConfigFromEnv', () => {
  it('propagates only, by default', () => {
    expect(tracingConfigFromEnv({})).toEqual({ collector: undefined, samplingRatio: 0, maxQueueSize: 2048, batchDelayMs: 5_000, exportTimeoutMs: 10_000 });
  });

  it('samples every new trace once a collector is set, unless told otherwise', () => {
    expect(tracingConfigFromEnv({ MESHBUS_PROXY_TRACE_COLLECTOR: 'http://collector:4318' })).toMatchObject({ collector: 'http://collector:4318/', samplingRatio: 1 });
    expect(tracingConfigFromEnv({ MESHBUS_PROXY_TRACE_COLLECTOR: 'http://collector:4318', MESHBUS_PROXY_TRACE_SAMPLING_RATIO: '0.25', MESHBUS_PROXY_TRACE_BATCH_DELAY: '200ms', MESHBUS_PROXY_TRACE_QUEUE_SIZE: '10' })).toMatchObject({ samplingRatio: 0.25, batchDelayMs: 200, maxQueueSize: 10 });
  });

  it.each([
    [{ MESHBUS_PROXY_TRACE_COLLECTOR: 'collector:4318' }, /MESHBUS_PROXY_TRACE_COLLECTOR/],
    [{ MESHBUS_PROXY_TRACE_COLLECTOR: 'grpc://collector:4317' }, /MESHBUS_PROXY_TRACE_COLLECTOR: .* must be http/],
    [{ MESHBUS_PROXY_TRACE_SAMPLING_RATIO: '1.5' }, /MESHBUS_PROXY_TRACE_SAMPLING_RATIO must be a number in \[0, 1\]/],
    [{ MESHBUS_PROXY_TRACE_SAMPLING_RATIO: 'half' }, /MESHBUS_PROXY_TRACE_SAMPLING_RATIO/],
    [{ MESHBUS_PROXY_TRACE_QUEUE_SIZE: '0' }, /MESHBUS_PROXY_TRACE_QUEUE_SIZE/],
    [{ MESHBUS_PROXY_TRACE_BATCH_DELAY: 'soon' }, /MESHBUS_PROXY_TRACE_BATCH_DELAY/],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => tracingConfigFromEnv(env)).toThrow(message);
  });
});
