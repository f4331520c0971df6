import type { OutboundPolicy } from '@meshbus/bus-schemas';
import { portInRanges, type Server, type Service, type ServicePort } from '@meshbus/manifests';

/** A protocol of the policy APIs. */
export type Protocol = OutboundPolicy['protocol'];
export type RouteKind = 'HTTPRoute' | 'GRPCRoute';

/** Where a route applies: one Server, or one port of a Service. */
export const routeTarget = {
  server: (namespace: string, name: string) => `Server|${namespace}|${name}`,
  servicePort: (namespace: string, name: string, port: number) => `Service|${namespace}|${name}|${port}`,
} as const;

const serverProtocols = { unknown: 'detect', 'HTTP/1': 'http1', 'HTTP/2': 'http2', gRPC: 'grpc', opaque: 'opaque', TLS: 'tls' } as const;

/** The protocol an appProtocol names, when it names one. */
function appProtocolOf(port: ServicePort): Protocol | undefined {
  switch (port.appProtocol?.toLowerCase()) {
    case 'http':
    case 'kubernetes.io/http':
      return 'http1';
    case 'http2':
    case 'h2c':
    case 'kubernetes.io/h2c':
      return 'http2';
    case 'grpc':
      return 'grpc';
    case 'tls':
    case 'https':
    case 'kubernetes.io/tls':
      return 'tls';
    case 'tcp':
    case 'opaque':
    case 'linkerd.io/opaque':
      return 'opaque';
    default:
      return undefined;
  }
}

/** What a Service port says of itself, before routes: opaque ports, then its appProtocol, else detection. */
export function servicePortProtocol(service: Service, port: ServicePort): Protocol {
  return portInRanges(service.opaquePorts, port.port) ? 'opaque' : (appProtocolOf(port) ?? 'detect');
}

/** What a Server says of itself. */
export function serverProtocol(server: Server): Protocol {
  return serverProtocols[server.proxyProtocol];
}

/**
 * The protocol a port is served with, from what it says of itself and the
 * kinds of the routes that apply there: any GRPCRoute makes it gRPC; a gRPC
 * port with HTTPRoutes only is HTTP/2 (gRPC is HTTP/2, and the HTTPRoutes
 * apply as written).
 */
export function servedProtocol(own: Protocol, grpcRoutes: boolean, httpRoutes: boolean): Protocol {
  if (own === 'opaque' || own === 'tls' || own === 'http1') return own;
  if (grpcRoutes) return 'grpc';
  if (own === 'grpc' && httpRoutes) return 'http2';
  return own;
}

/**
 * Why a route of `kind` does not apply on a Service port, or undefined when
 * it does. `grpcRoute` names a GRPCRoute that applies on the same port, if any.
 */
export function servicePortMismatch(kind: RouteKind, service: Service, port: ServicePort, grpcRoute: string | undefined): string | undefined {
  const own = servicePortProtocol(service, port);
  const where = `port ${port.port} of Service ${service.namespace}/${service.name}`;
  if (own === 'opaque' || own === 'tls') {
    const why = own === 'tls' ? `appProtocol ${port.appProtocol ?? ''}` : portInRanges(service.opaquePorts, port.port) ? 'an opaque port' : `appProtocol ${port.appProtocol ?? ''}`;
    return `${where} carries ${own === 'tls' ? 'TLS' : 'opaque TCP'} (${why}); routes do not apply there`;
  }
  if (kind === 'GRPCRoute') {
    return own === 'http1' ? `${where} is HTTP/1 (appProtocol ${port.appProtocol ?? ''}); a GRPCRoute needs HTTP/2 (appProtocol grpc, kubernetes.io/h2c, or none)` : undefined;
  }
  if (grpcRoute !== undefined && own !== 'http1') return `${where} is served as gRPC: GRPCRoute ${grpcRoute} applies there, and then HTTPRoutes do not`;
  return undefined;
}

/** Why a route of `kind` does not apply on a Server, or undefined when it does. `grpcRoute` as for {@link servicePortMismatch}. */
export function serverMismatch(kind: RouteKind, server: Server, grpcRoute: string | undefined): string | undefined {
  const where = `Server ${server.namespace}/${server.name} has proxyProtocol ${server.proxyProtocol}`;
  const own = serverProtocol(server);
  if (own === 'opaque' || own === 'tls') return `${where}; routes do not apply to opaque or TLS traffic`;
  if (kind === 'GRPCRoute') return own === 'grpc' ? undefined : `${where}; a GRPCRoute applies to a gRPC Server only`;
  if (own === 'grpc' && grpcRoute !== undefined) return `${where} and GRPCRoute ${grpcRoute}; its HTTPRoutes apply (as HTTP/2) only when no GRPCRoute does`;
  return undefined;
}
