import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { envToConfig, registrationAuthFromEnv } from './config.js';

describe('envToConfig', () => {
  it('reads the limits of the metrics stream, one hour and 1 GiB by default', () => {
    const base = { MESHBUS_MANIFESTS_DIR: '/m' };
    expect(envToConfig(base).metricsRetention).toEqual({ maxAgeMs: 3_600_000, maxBytes: 2 ** 30 });
    expect(envToConfig({ ...base, MESHBUS_METRICS_MAX_AGE: '2h', MESHBUS_METRICS_MAX_BYTES: '64MiB' }).metricsRetention).toEqual({ maxAgeMs: 7_200_000, maxBytes: 64 * 2 ** 20 });
    expect(() => envToConfig({ ...base, MESHBUS_METRICS_MAX_BYTES: '0' })).toThrow(ConfigError);
    expect(() => envToConfig({ ...base, MESHBUS_METRICS_MAX_BYTES: '0' })).toThrow(/MESHBUS_METRICS_MAX_BYTES must be at least 1MiB, got "0"/);
  });
});

describe('registrationAuthFromEnv', () => {
  it('uses the identity service\'s token settings in local mode, and disables registration without a key', () => {
    expect(registrationAuthFromEnv({})).toEqual({ kind: 'disabled' });
    expect(registrationAuthFromEnv({ MESHBUS_TOKEN_PUBLIC_KEY: '/id/token.pub' })).toEqual({ kind: 'local', tokenPublicKeyFile: '/id/token.pub', tokenAudience: 'identity.meshbus.io' });
    expect(registrationAuthFromEnv({ MESHBUS_TOKEN_PUBLIC_KEY: '/id/token.pub', MESHBUS_TOKEN_AUDIENCE: 'mesh' })).toMatchObject({ tokenAudience: 'mesh' });
    expect(envToConfig({ MESHBUS_MANIFESTS_DIR: '/m', MESHBUS_TOKEN_PUBLIC_KEY: '/k' }).registrationAuth).toMatchObject({ kind: 'local', tokenPublicKeyFile: '/k' });
  });

  it('asks TokenReview in kubernetes mode, and names a bad setting', () => {
    expect(registrationAuthFromEnv({ MESHBUS_TOKEN_VALIDATION: 'kubernetes', MESHBUS_TOKEN_AUDIENCE: 'a, b', KUBECONFIG: '/k1:/k2' })).toEqual({
      kind: 'kubernetes',
      tokenAudiences: ['a', 'b'],
      kubeconfig: '/k1',
    });
    expect(registrationAuthFromEnv({ MESHBUS_TOKEN_VALIDATION: 'kubernetes' })).toEqual({ kind: 'kubernetes', tokenAudiences: ['identity.meshbus.io'] });
    expect(() => registrationAuthFromEnv({ MESHBUS_TOKEN_VALIDATION: 'tokens' })).toThrow(/MESHBUS_TOKEN_VALIDATION must be local or kubernetes, got "tokens"/);
    expect(() => registrationAuthFromEnv({ MESHBUS_TOKEN_VALIDATION: 'kubernetes', MESHBUS_TOKEN_AUDIENCE: ' , ' })).toThrow(/MESHBUS_TOKEN_AUDIENCE must name at least one audience/);
  });
});
