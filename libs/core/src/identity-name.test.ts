import { describe, expect, it } from 'vitest';
import { IdentityNameError, identityName, isDnsSubdomain, parseIdentityName } from './identity-name.js';

const mesh = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };

describe('identityName', () => {
  it('joins the parts in the mesh format', () => {
    expect(identityName({ serviceAccount: 'web', namespace: 'shop', ...mesh })).toBe('web.shop.serviceaccount.identity.meshbus.cluster.local');
    expect(identityName({ serviceAccount: 'default', namespace: 'default', controlNamespace: 'linkerd', trustDomain: 'example' })).toBe(
      'default.default.serviceaccount.identity.linkerd.example',
    );
  });

  it.each([
    [{ serviceAccount: 'Web' }, 'service account'],
    [{ serviceAccount: 'web.app' }, 'service account'],
    [{ serviceAccount: '-web' }, 'service account'],
    [{ serviceAccount: '' }, 'service account'],
    [{ namespace: 'shop_eu' }, 'namespace'],
    [{ namespace: 'a'.repeat(64) }, 'namespace'],
    [{ controlNamespace: 'mesh bus' }, 'control namespace'],
    [{ trustDomain: 'cluster..local' }, 'trust domain'],
    [{ trustDomain: 'Cluster.local' }, 'trust domain'],
    [{ trustDomain: '' }, 'trust domain'],
  ])('refuses %j, naming the %s', (override, field) => {
    try {
      identityName({ serviceAccount: 'web', namespace: 'shop', ...mesh, ...override });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(IdentityNameError);
      expect(error).toMatchObject({ code: 'InvalidIdentityName' });
      expect((error as Error).message).toContain(field);
    }
  });

  it('accepts 63-character labels but refuses names over 253 characters', () => {
    const label = 'a'.repeat(63);
    expect(identityName({ serviceAccount: label, namespace: label, ...mesh })).toHaveLength(63 * 2 + 2 + 'serviceaccount.identity.meshbus.cluster.local'.length);
    expect(() => identityName({ serviceAccount: label, namespace: label, controlNamespace: label, trustDomain: `${label}.${label}` })).toThrow(IdentityNameError);
  });
});

describe('parseIdentityName', () => {
  it('recovers service account and namespace', () => {
    expect(parseIdentityName('web.shop.serviceaccount.identity.meshbus.cluster.local', mesh)).toEqual({ serviceAccount: 'web', namespace: 'shop' });
  });

  it.each(['web.shop.serviceaccount.identity.other.cluster.local', 'a.web.shop.serviceaccount.identity.meshbus.cluster.local', '.shop.serviceaccount.identity.meshbus.cluster.local', 'cluster.local'])(
    'returns undefined for %s',
    (identity) => {
      expect(parseIdentityName(identity, mesh)).toBeUndefined();
    },
  );
});

describe('isDnsSubdomain', () => {
  it('accepts lowercase dotted names and refuses the rest', () => {
    expect(isDnsSubdomain('a-1.b2.c')).toBe(true);
    for (const bad of ['', 'a.', '.a', 'a_b', 'A', 'a-', `${'a'.repeat(64)}.b`, `${'a.'.repeat(127)}a`]) expect(isDnsSubdomain(bad)).toBe(false);
  });
});
