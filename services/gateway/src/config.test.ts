import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { createGateway } from './composition-root.js';
import { envToConfig } from './config.js';

describe('MESHBUS_DRAIN_MS', () => {
  it('is the drain time the gateway hands to its service host, up to 120 s', () => {
    expect(createGateway(envToConfig({ MESHBUS_DRAIN_MS: '120000' })).drainMs).toBe(120_000);
    expect(createGateway(envToConfig({})).drainMs).toBe(5000);
  });

  it('refuses more than 120 s, naming the variable', () => {
    expect(() => envToConfig({ MESHBUS_DRAIN_MS: '120001' })).toThrow(ConfigError);
    expect(() => envToConfig({ MESHBUS_DRAIN_MS: '120001' })).toThrow(/MESHBUS_DRAIN_MS/);
  });
});
