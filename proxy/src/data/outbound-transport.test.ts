import { describe, expect, it } from 'vitest';
import type { destination } from '@meshbus/proxy-api';
import type { Endpoint } from '../outbound/index.js';
import { endpointTransport } from './outbound-proxy.js';

const endpoint = (extra: Partial<Endpoint> = {}): Endpoint => ({
  key: '10.0.0.7:8080',
  addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000007 } }, port: 8080 },
  weight: 1,
  labels: {},
  ...extra,
});
const identity: destination.TlsIdentity = { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' } } };
const h2: destination.ProtocolHint = { protocol: { $case: 'h2', h2: {} } };

describe('endpointTransport', () => {
  it('sends everything to a meshed endpoint over mesh TLS', () => {
    expect(endpointTransport(endpoint({ tlsIdentity: identity }), 'http1')).toBe('mesh');
    expect(endpointTransport(endpoint({ tlsIdentity: identity, protocolHint: h2 }), 'http2')).toBe('mesh');
  });

  it('keeps HTTP/2 as h2c to an endpoint outside the mesh, and HTTP/1.1 as it is unless the endpoint hints h2', () => {
    expect(endpointTransport(endpoint(), 'http2')).toBe('h2c');
    expect(endpointTransport(endpoint(), 'http1')).toBe('http1');
    expect(endpointTransport(endpoint({ protocolHint: h2 }), 'http1')).toBe('h2c');
    expect(endpointTransport(endpoint({ protocolHint: { protocol: { $case: 'opaque', opaque: {} } } }), 'http1')).toBe('http1');
  });
});
