import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { busConfigFromEnv } from './connection.js';

describe('busConfigFromEnv', () => {
  it('gives the connection the private inbox prefix of its role', () => {
    expect(busConfigFromEnv({ NATS_URL: 'nats://a:4222' }, 'meshbus-gateway/g1', 'gateway')).toEqual({
      servers: ['nats://a:4222'],
      name: 'meshbus-gateway/g1',
      inboxPrefix: '_INBOX_gateway',
    });
  });

  it('takes NATS_INBOX_PREFIX when set, as one subject token only', () => {
    expect(busConfigFromEnv({ NATS_INBOX_PREFIX: '_INBOX_gw-eu' }, 'n', 'gateway').inboxPrefix).toBe('_INBOX_gw-eu');
    for (const bad of ['_INBOX.gw', '_INBOX_*', 'a b', '>']) {
      expect(() => busConfigFromEnv({ NATS_INBOX_PREFIX: bad }, 'n', 'gateway')).toThrow(ConfigError);
    }
    expect(() => busConfigFromEnv({ NATS_INBOX_PREFIX: '_INBOX.gw' }, 'n', 'gateway')).toThrow(/NATS_INBOX_PREFIX: "_INBOX\.gw" must be one NATS subject token/);
  });
});
