import { ConfigError } from '@meshbus/core';
import { describe, expect, it } from 'vitest';
import { identityAllowed, parseAllowedIdentities, trustDomainAllowList } from './allow-list.js';

const td = 'serviceaccount.identity.meshbus.cluster.local';

describe('parseAllowedIdentities', () => {
  it('reads exact identities and *.suffix patterns', () => {
    const list = parseAllowedIdentities(` web.shop.${td} , *.billing.${td},*.Other.example `);
    expect([...list.exact]).toEqual([`web.shop.${td}`]);
    expect(list.suffixes).toEqual([`.billing.${td}`, '.other.example']);
  });

  it.each([
    ['', 'lists no identity'],
    [' , ', 'lists no identity'],
    ['web*.shop.example', 'a * may only'],
    ['*.example', 'at least two labels'],
    ['*', 'a * may only'],
    ['*.*.example.org', 'is not *.<dns name>'],
    ['web..shop', 'is not an identity'],
    ['web_app.shop', 'is not an identity'],
  ])('refuses %j', (text, message) => {
    expect(() => parseAllowedIdentities(text)).toThrow(ConfigError);
    expect(() => parseAllowedIdentities(text)).toThrow(message);
  });
});

describe('identityAllowed', () => {
  const list = parseAllowedIdentities(`web.shop.${td},*.billing.${td}`);

  it('admits exact identities, in any case', () => {
    expect(identityAllowed(list, `web.shop.${td}`)).toBe(true);
    expect(identityAllowed(list, `WEB.shop.${td}`)).toBe(true);
    expect(identityAllowed(list, `db.shop.${td}`)).toBe(false);
  });

  it('admits one or more labels before a suffix, never the suffix alone', () => {
    expect(identityAllowed(list, `pay.billing.${td}`)).toBe(true);
    expect(identityAllowed(list, `billing.${td}`)).toBe(false);
    expect(identityAllowed(list, `.billing.${td}`)).toBe(false);
    expect(identityAllowed(list, `xbilling.${td}`)).toBe(false);
    expect(identityAllowed(list, `pay.billing.${td}.evil.example`)).toBe(false);
  });

  it('by default admits every workload identity of the trust domain of the gateway', () => {
    const defaults = trustDomainAllowList(`multicluster-gateway.meshbus.${td}`);
    expect(identityAllowed(defaults, `web.shop.${td}`)).toBe(true);
    expect(identityAllowed(defaults, 'web.shop.serviceaccount.identity.meshbus.other.local')).toBe(false);
    expect(identityAllowed(defaults, 'web.shop.serviceaccount.identity.linkerd.cluster.local')).toBe(false);
    expect(() => trustDomainAllowList('gateway.example.org')).toThrow(ConfigError);
  });
});
