import { describe, expect, it } from 'vitest';
import { applyDestinationUpdate, emptyDestination, type DestinationState, type Endpoint } from '../control/index.js';
import { destinationDiff, tcpAddress, weightedAddr } from './discovery.js';
import { authorityHost, authorityPort, forwardableHeaders, policyMetadata, serverMetadata } from './http-headers.js';
import { canonicalAuthority } from './outbound-proxy.js';
import { sniffProtocol } from './sniff.js';

describe('forwardableHeaders', () => {
  it('drops hop-by-hop headers and those Connection names, keeps the rest', () => {
    const out = forwardableHeaders({ connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': '1', 'transfer-encoding': 'chunked', 'proxy-authorization': 'Basic x', upgrade: 'h2c', 'x-app': 'yes', accept: ['a', 'b'] });
    expect(out).toEqual({ 'x-app': 'yes', accept: ['a', 'b'] });
  });
});

describe('authorities', () => {
  it('completes short service names and adds the default port', () => {
    expect(canonicalAuthority('b.demo', 'cluster.local')).toBe('b.demo.svc.cluster.local:80');
    expect(canonicalAuthority('b.demo:8080', 'cluster.local')).toBe('b.demo.svc.cluster.local:8080');
    expect(canonicalAuthority('b.demo.svc', 'example.org')).toBe('b.demo.svc.example.org:80');
    expect(canonicalAuthority('B.Demo.svc.cluster.local:81', 'cluster.local')).toBe('b.demo.svc.cluster.local:81');
    expect(canonicalAuthority('10.1.2.3:9000', 'cluster.local')).toBe('10.1.2.3:9000');
    expect(canonicalAuthority('b.demo', 'cluster.local', 443)).toBe('b.demo.svc.cluster.local:443');
  });
  it('splits host and port', () => {
    expect(authorityHost('Web.Shop:80')).toBe('web.shop');
    expect(authorityHost('[::1]:80')).toBe('::1');
    expect(authorityPort('web:8080', 80)).toBe(8080);
    expect(authorityPort('web', 80)).toBe(80);
  });
});

describe('sniffProtocol', () => {
  it('tells HTTP/1, the HTTP/2 preface and other bytes apart, waiting while undecided', () => {
    expect(sniffProtocol(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'))).toBe('http1');
    expect(sniffProtocol(Buffer.from('POST /a?b=c HTTP/1.0\n'))).toBe('http1');
    expect(sniffProtocol(Buffer.from('GET / HT'))).toBeUndefined();
    expect(sniffProtocol(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toBe('http2');
    expect(sniffProtocol(Buffer.from('PRI * HTTP/2'))).toBeUndefined();
    expect(sniffProtocol(Buffer.from([0x16, 0x03, 0x01, 0x00]))).toBe('opaque');
    expect(sniffProtocol(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'))).toBe('opaque');
    expect(sniffProtocol(Buffer.from('hello world\n'))).toBe('opaque');
  });
});

describe('policy metadata for the metrics', () => {
  it('keeps defaults and resources apart', () => {
    expect(policyMetadata({ kind: 'default', group: '', namespace: '', name: 'all-unauthenticated' })).toEqual({ kind: { $case: 'default', default: 'all-unauthenticated' } });
    expect(policyMetadata({ kind: 'AuthorizationPolicy', group: 'policy.linkerd.io', namespace: 'demo', name: 'b-from-a' }).kind).toEqual({
      $case: 'resource',
      resource: { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', namespace: 'demo', name: 'b-from-a', section: '', port: 0 },
    });
    const server = { serverIps: [], authorizations: [], labels: { group: 'policy.linkerd.io', kind: 'Server', name: 'b-http', namespace: 'demo' } };
    expect(serverMetadata(server, 8080).kind).toMatchObject({ $case: 'resource', resource: { kind: 'Server', name: 'b-http', port: 8080 } });
    expect(serverMetadata({ ...server, labels: { group: '', kind: 'default', name: 'all-unauthenticated' } }, 8080)).toEqual({ kind: { $case: 'default', default: 'all-unauthenticated' } });
  });
});

const endpoint = (address: string, extra: Partial<Endpoint> = {}): Endpoint => ({
  address,
  weight: 10_000,
  tlsIdentity: undefined,
  serverName: undefined,
  gateway: undefined,
  protocolHint: undefined,
  opaqueTransportPort: undefined,
  authorityOverride: undefined,
  metricLabels: {},
  ...extra,
});
const state = (...endpoints: Endpoint[]): DestinationState => ({ exists: true, endpoints: new Map(endpoints.map((e) => [e.address, e])) });

describe('Destination states as balancer updates', () => {
  it('reads IPv4 and IPv6 addresses', () => {
    expect(tcpAddress('10.0.0.1:80')).toEqual({ ip: { ip: { $case: 'ipv4', ipv4: 0x0a000001 } }, port: 80 });
    expect(tcpAddress('[::1]:443')).toEqual({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0n, last: 1n } } }, port: 443 });
    expect(() => tcpAddress('nope')).toThrow(/"nope" is not ip:port/);
  });

  it('keeps identity, hint and labels of an endpoint', () => {
    const addr = weightedAddr(endpoint('10.0.0.1:8080', { tlsIdentity: 'b.demo.serviceaccount.identity.meshbus.cluster.local', protocolHint: 'opaque', opaqueTransportPort: 4143, metricLabels: { pod: 'b-1' } }));
    expect(addr.tlsIdentity?.strategy).toEqual({ $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'b.demo.serviceaccount.identity.meshbus.cluster.local' } });
    expect(addr.protocolHint).toEqual({ protocol: { $case: 'opaque', opaque: {} }, opaqueTransport: { inboundPort: 4143 } });
    expect(addr.metricLabels).toEqual({ pod: 'b-1' });
  });

  it("keeps the authority and the gateway of an endpoint behind a linked cluster's gateway, so that the balancer tunnels to it", () => {
    const gateway = { cluster: 'east', identity: { strategy: { $case: 'dnsLikeIdentity' as const, dnsLikeIdentity: { name: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local' } }, serverName: undefined }, identities: [] };
    const fromDestination = applyDestinationUpdate(emptyDestination, {
      update: {
        $case: 'add',
        add: {
          addrs: [{ ...weightedAddr(endpoint('10.1.0.9:4180', { tlsIdentity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', protocolHint: 'h2' })), authorityOverride: { authorityOverride: 'web.shop.svc.cluster.local:80' }, meshbusGateway: gateway }],
          metricLabels: {},
        },
      },
    });
    const [update] = destinationDiff(undefined, fromDestination);
    const addr = update?.update?.$case === 'add' ? update.update.add.addrs[0] : undefined;
    expect(addr?.authorityOverride).toEqual({ authorityOverride: 'web.shop.svc.cluster.local:80' });
    expect(addr?.meshbusGateway).toEqual(gateway);
  });

  it('adds what is new, removes what is gone, and says when nothing is left', () => {
    const one = endpoint('10.0.0.1:80');
    const two = endpoint('10.0.0.2:80');
    const first = destinationDiff(undefined, state(one, two));
    expect(first.map((u) => u.update?.$case)).toEqual(['add']);
    const next = destinationDiff(state(one, two), state(two, endpoint('10.0.0.3:80')));
    expect(next.map((u) => u.update?.$case)).toEqual(['remove', 'add']);
    expect(next[0]!.update).toMatchObject({ remove: { addrs: [tcpAddress('10.0.0.1:80')] } });
    expect(next[1]!.update).toMatchObject({ add: { addrs: [{ addr: tcpAddress('10.0.0.3:80') }] } });
    expect(destinationDiff(state(one), state(one))).toEqual([]);
    expect(destinationDiff(state(one), { exists: true, endpoints: new Map() })).toEqual([{ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } }]);
  });
});
