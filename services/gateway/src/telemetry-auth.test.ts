import { describe, expect, it } from 'vitest';
import { identityWorkload } from './telemetry-auth.js';

describe('identityWorkload', () => {
  it('reads the namespace and service account of a workload identity of the trust domain', () => {
    expect(identityWorkload('web.shop.serviceaccount.identity.meshbus.cluster.local', 'cluster.local')).toEqual({ namespace: 'shop', workload: 'web' });
    expect(identityWorkload('web.shop.serviceaccount.identity.linkerd.example.org', 'example.org')).toEqual({ namespace: 'shop', workload: 'web' });
  });

  it('refuses other trust domains and names of another shape', () => {
    for (const name of [
      'web.shop.serviceaccount.identity.meshbus.other.local',
      'web.shop.identity.meshbus.cluster.local',
      'a.web.shop.serviceaccount.identity.meshbus.cluster.local',
      'Web.shop.serviceaccount.identity.meshbus.cluster.local',
      'web..serviceaccount.identity.meshbus.cluster.local',
      'cluster.local',
    ]) {
      expect(identityWorkload(name, 'cluster.local'), name).toBeUndefined();
    }
  });
});
