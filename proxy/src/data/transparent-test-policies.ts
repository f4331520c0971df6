/*
 * OutboundPolicies of the shapes the gateway answers, for the tests of
 * transparent and ingress modes: the "forward" policy of an address (with or
 * without the TLS identity and protocol hint of a known pod endpoint), and a
 * service's policy whose backends are Destination paths.
 */
import type { Duration, outbound } from '@meshbus/proxy-api';
import { tcpAddress } from './discovery.js';

const forwardMetadata = { kind: { $case: 'default' as const, default: 'forward' } };

function duration(ms: number): Duration {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A policy that detects the protocol and sends HTTP and TCP to `backend`. */
function detectPolicy(metadata: outbound.OutboundPolicy['metadata'], backend: () => outbound.Backend, detectMs: number | undefined, filters: outbound.HttpRoute_Rule['filters'] = []): outbound.OutboundPolicy {
  const http = (): outbound.ProxyProtocol_Http1 => ({
    routes: [
      {
        metadata,
        hosts: [],
        rules: [
          {
            matches: [{ path: { kind: { $case: 'prefix', prefix: '/' } }, headers: [], queryParams: [] }],
            filters,
            backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: backend(), filters: [] }] } } },
            allowL5dRequestHeaders: false,
          },
        ],
      },
    ],
  });
  const opaque: outbound.ProxyProtocol_Opaque = { routes: [{ metadata, rules: [{ backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: backend(), filters: [] }] } } }, filters: [] }] }] };
  return { metadata, protocol: { kind: { $case: 'detect', detect: { ...(detectMs !== undefined ? { timeout: duration(detectMs) } : {}), opaque, http1: http(), http2: http() } } } };
}

/** The gateway's policy for an address no service has: forward to it, with the endpoint's identity and hint when it knows them. */
export function forwardPolicy(
  target: { ip: string; port: number; identity?: string; opaqueHint?: boolean; inboundPort?: number },
  options: { detectMs?: number } = {},
): outbound.OutboundPolicy {
  const backend = (): outbound.Backend => {
    const forward: outbound.Backend['kind'] = { $case: 'forward', forward: { addr: tcpAddress(target.ip.includes(':') ? `[${target.ip}]:${target.port}` : `${target.ip}:${target.port}`), weight: 1, metricLabels: {} } };
    if (target.identity) forward.forward.tlsIdentity = { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: target.identity } }, serverName: { name: target.identity } };
    if (target.opaqueHint) forward.forward.protocolHint = { protocol: { $case: 'opaque', opaque: {} }, ...(target.inboundPort ? { opaqueTransport: { inboundPort: target.inboundPort } } : {}) };
    return { metadata: forwardMetadata, kind: forward };
  };
  return detectPolicy(forwardMetadata, backend, options.detectMs);
}

/** A service's policy: routes to its Destination path, with a request header set on the way. */
export function servicePolicy(name: string, namespace: string, port: number, options: { path?: string; routeHeader?: string } = {}): outbound.OutboundPolicy {
  const metadata = { kind: { $case: 'resource' as const, resource: { group: 'core', kind: 'Service', name, namespace, section: '', port } } };
  const path = options.path ?? `${name}.${namespace}.svc.cluster.local:${port}`;
  const backend = (): outbound.Backend => ({ metadata, kind: { $case: 'balancer', balancer: { discovery: { kind: { $case: 'dst', dst: { path } } } } } });
  const filters: outbound.HttpRoute_Rule['filters'] = options.routeHeader
    ? [{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: { headers: [{ name: 'x-route', value: Buffer.from(options.routeHeader) }] }, remove: [] } } }]
    : [];
  return detectPolicy(metadata, backend, 1_000, filters);
}
