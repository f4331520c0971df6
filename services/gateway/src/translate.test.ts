import { describe, expect, it } from 'vitest';
import { destination } from '@meshbus/proxy-api';
import { toDestinationProfile, toIpAddress, toWeightedAddr } from './translate.js';
import { parseDestinationPath, DestinationPathError } from './destination-path.js';

describe('toIpAddress', () => {
  it('packs IPv4 into a uint32 in network order', () => {
    expect(toIpAddress('10.1.2.3')).toEqual({ ip: { $case: 'ipv4', ipv4: 0x0a010203 } });
    expect(toIpAddress('255.255.255.255')).toEqual({ ip: { $case: 'ipv4', ipv4: 0xffffffff } });
  });

  it('splits IPv6 into two 64-bit halves', () => {
    expect(toIpAddress('2001:db8::1')).toEqual({ ip: { $case: 'ipv6', ipv6: { first: 0x20010db800000000n, last: 1n } } });
    expect(toIpAddress('::1')).toEqual({ ip: { $case: 'ipv6', ipv6: { first: 0n, last: 1n } } });
    expect(toIpAddress('fd00:1:2:3:4:5:6:7')).toEqual({ ip: { $case: 'ipv6', ipv6: { first: 0xfd00000100020003n, last: 0x0004000500060007n } } });
    expect(toIpAddress('::ffff:10.0.0.1')).toEqual({ ip: { $case: 'ipv6', ipv6: { first: 0n, last: 0x0000ffff0a000001n } } });
  });
});

describe('toWeightedAddr', () => {
  it('carries identity, server name, opaque transport and zone', () => {
    const a = toWeightedAddr({
      address: '10.0.0.1',
      port: 5432,
      weight: 10000,
      identity: 'db.shop.serviceaccount.identity.meshbus.cluster.local',
      protocolHint: 'opaque',
      opaqueTransportPort: 4143,
      zone: 'z1',
      labels: { workload: 'db-1' },
    });
    expect(a.tlsIdentity?.serverName?.name).toBe('db.shop.serviceaccount.identity.meshbus.cluster.local');
    expect(a.protocolHint).toEqual({ protocol: { $case: 'opaque', opaque: {} }, opaqueTransport: { inboundPort: 4143 } });
    expect(a.metricLabels).toEqual({ workload: 'db-1', zone: 'z1' });
  });

  it('sends an endpoint behind a linked cluster\'s gateway with authority_override and the gateway identity', () => {
    const a = toWeightedAddr({
      address: '192.0.2.10',
      port: 4180,
      weight: 10000,
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      gateway: {
        cluster: 'east',
        identity: 'gateway.meshbus-multicluster.serviceaccount.identity.meshbus.cluster.local',
        authority: 'web.shop.svc.cluster.local:8080',
        identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local', 'web-v2.shop.serviceaccount.identity.meshbus.cluster.local'],
      },
    });
    expect(a.addr).toEqual({ ip: { ip: { $case: 'ipv4', ipv4: 0xc000020a } }, port: 4180 });
    expect(a.tlsIdentity?.strategy).toEqual({ $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' } });
    expect(a.authorityOverride).toEqual({ authorityOverride: 'web.shop.svc.cluster.local:8080' });
    expect(a.meshbusGateway).toEqual({
      cluster: 'east',
      identity: {
        strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'gateway.meshbus-multicluster.serviceaccount.identity.meshbus.cluster.local' } },
        serverName: { name: 'gateway.meshbus-multicluster.serviceaccount.identity.meshbus.cluster.local' },
      },
      identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local', 'web-v2.shop.serviceaccount.identity.meshbus.cluster.local'],
    });
    // Survives the wire.
    const decoded = destination.WeightedAddr.decode(destination.WeightedAddr.encode(a).finish());
    expect(decoded.meshbusGateway).toEqual(a.meshbusGateway);
    expect(decoded.authorityOverride).toEqual(a.authorityOverride);
  });

  it('sends a local endpoint without a gateway or authority override', () => {
    const a = toWeightedAddr({ address: '10.0.0.1', port: 8080, weight: 1, identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local' });
    expect(a.meshbusGateway).toBeUndefined();
    expect(a.authorityOverride).toBeUndefined();
  });

  it('names the Workload behind the endpoint in resource_ref', () => {
    const a = toWeightedAddr({ address: '10.0.0.2', port: 8080, weight: 10000, workload: { kind: 'Workload', namespace: 'shop', name: 'web-1' } });
    expect(a.resourceRef).toEqual({
      kind: { $case: 'resource', resource: { group: 'meshbus.io', kind: 'Workload', name: 'web-1', namespace: 'shop', section: '', port: 0 } },
    });
  });

  it('leaves resource_ref unset for an unknown workload kind or none, and never sets HTTP/2 settings', () => {
    const unknown = toWeightedAddr({ address: '10.0.0.3', port: 80, weight: 1, workload: { kind: 'Pod', namespace: 'shop', name: 'web-1' } });
    const none = toWeightedAddr({ address: '10.0.0.4', port: 80, weight: 1 });
    for (const a of [unknown, none]) {
      expect(a.resourceRef).toBeUndefined();
      expect(a.http2).toBeUndefined();
    }
  });
});

describe('toDestinationProfile', () => {
  it('translates routes, timeouts, retry budget and traffic split', () => {
    const p = toDestinationProfile('api.shop.svc.cluster.local', 8080, {
      namespace: 'shop',
      service: 'api',
      routes: [
        {
          name: 'GET /items',
          condition: { all: [{ method: 'GET' }, { pathRegex: '/items' }] },
          responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }],
          isRetryable: true,
          timeoutMs: 1500,
        },
      ],
      retryBudget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttlMs: 2000 },
      dstOverrides: [{ authority: 'api-v2.shop.svc.cluster.local:8080', weight: 250 }],
      opaquePorts: [8080],
    });
    expect(p.opaqueProtocol).toBe(true);
    expect(p.routes[0]?.timeout).toEqual({ seconds: 1n, nanos: 500_000_000 });
    expect(p.routes[0]?.metricsLabels).toEqual({ route: 'GET /items' });
    expect(p.routes[0]?.condition?.match?.$case).toBe('all');
    expect(p.retryBudget?.ttl).toEqual({ seconds: 2n, nanos: 0 });
    expect(p.dstOverrides).toEqual([
      {
        authority: 'api-v2.shop.svc.cluster.local:8080',
        weight: 250,
        backendRef: { kind: { $case: 'resource', resource: { group: 'core', kind: 'Service', name: 'api-v2', namespace: 'shop', section: '', port: 8080 } } },
      },
    ]);
    expect(p.parentRef).toEqual({ kind: { $case: 'resource', resource: { group: 'core', kind: 'Service', name: 'api', namespace: 'shop', section: '', port: 8080 } } });
    expect(p.profileRef).toEqual({
      kind: { $case: 'resource', resource: { group: 'linkerd.io', kind: 'ServiceProfile', name: 'api.shop.svc.cluster.local', namespace: 'shop', section: '', port: 0 } },
    });
  });

  it('gives backend_ref only to split entries that name a service of the cluster domain (port 80 by default)', () => {
    const p = toDestinationProfile('api.shop.svc.example.org', 80, {
      namespace: 'shop',
      service: 'api',
      routes: [],
      dstOverrides: [
        { authority: 'api-v2.shop.svc.example.org', weight: 1 },
        { authority: 'api-v3.shop.svc.cluster.local:80', weight: 1 },
        { authority: 'api.example.com:443', weight: 1 },
      ],
      opaquePorts: [],
    });
    expect(p.dstOverrides.map((d) => d.backendRef?.kind?.$case === 'resource' && d.backendRef.kind.resource)).toEqual([
      { group: 'core', kind: 'Service', name: 'api-v2', namespace: 'shop', section: '', port: 80 },
      false,
      false,
    ]);
    expect(p.profileRef?.kind?.$case).toBe('resource');
  });

  it('names the Service but no ServiceProfile when the profile is empty', () => {
    const p = toDestinationProfile('web.shop.svc.cluster.local', 9000, { namespace: 'shop', service: 'web', routes: [], dstOverrides: [], opaquePorts: [9000] });
    expect(p.parentRef).toEqual({ kind: { $case: 'resource', resource: { group: 'core', kind: 'Service', name: 'web', namespace: 'shop', section: '', port: 9000 } } });
    expect(p.profileRef).toBeUndefined();
    expect(p.opaqueProtocol).toBe(true);
  });

  it('gives a service without profile the default retry budget and no routes', () => {
    const p = toDestinationProfile('web.shop.svc.cluster.local', 80, undefined);
    expect(p.routes).toEqual([]);
    expect(p.retryBudget?.minRetriesPerSecond).toBe(10);
    expect(p.fullyQualifiedName).toBe('web.shop.svc.cluster.local');
    expect(p.parentRef).toBeUndefined();
    expect(p.profileRef).toBeUndefined();
  });
});

describe('parseDestinationPath', () => {
  it('accepts service names of the cluster domain, port 80 by default', () => {
    expect(parseDestinationPath('web.shop.svc.cluster.local:8080', 'cluster.local')).toEqual({ service: 'web', namespace: 'shop', port: 8080, fqdn: 'web.shop.svc.cluster.local' });
    expect(parseDestinationPath('Web.Shop.svc.cluster.local.', 'cluster.local').port).toBe(80);
  });

  it('refuses anything else with a reason', () => {
    for (const p of ['web.shop:80', 'web.shop.svc.other.domain:80', 'a.b.c.svc.cluster.local:80', 'web.shop.svc.cluster.local:0', 'web.shop.svc.cluster.local:x', '', '10.0.0.1:80']) {
      expect(() => parseDestinationPath(p, 'cluster.local'), p).toThrow(DestinationPathError);
    }
  });

  it('refuses non-ASCII letters that lower-case to ASCII (the Kelvin sign)', () => {
    expect(() => parseDestinationPath('\u212Aube.shop.svc.cluster.local:80', 'cluster.local')).toThrow(/printable ASCII/);
    expect(() => parseDestinationPath('web.shop.svc.cluster.local:80 ', 'cluster.local')).toThrow(DestinationPathError);
  });
});
