/*
 * Header rules of the data path: hop-by-hop headers stay on their hop, and
 * the header that tells the receiving proxy which workload port a mesh
 * request is for travels only between proxies.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { inbound, meta } from '@meshbus/proxy-api';
import type { PolicyRef } from '../inbound/index.js';
import { splitTarget, type RequestFacts } from '../routes/match.js';

/**
 * Between two proxies: the workload port a request is for. The sending proxy
 * sets it from the endpoint Destination gave; the receiving proxy removes it
 * and forwards to that port (when it is one of the workload's ports).
 */
export const targetPortHeader = 'l5d-dst-port';

/**
 * Between two proxies: set on a request that the workload sent as HTTP/1.1
 * and that crosses the mesh as an HTTP/2 stream. The receiving proxy removes
 * it and restores HTTP/1.1 for its workload; a stream without it was HTTP/2
 * from the start and reaches the workload as HTTP/2.
 */
export const origProtoHeader = 'l5d-orig-proto';

/** Headers only proxies write to each other; a request from a workload or a client never forwards its own copies. */
export const meshOnlyHeaders: readonly string[] = [targetPortHeader, origProtoHeader];

/** Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The headers to forward: hop-by-hop ones removed, and those the `Connection` header names. */
export function forwardableHeaders(headers: IncomingHttpHeaders | Readonly<Record<string, string | number | readonly string[] | undefined>>): Record<string, string | string[]> {
  const named = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s.length > 0),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || hopByHop.has(lower) || named.has(lower) || lower.startsWith(':')) continue;
    out[lower] = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : [...value];
  }
  return out;
}

/** The headers to forward on an HTTP/2 hop: {@link forwardableHeaders}, and `te: trailers` kept (gRPC asks for it; HTTP/2 allows no other `te`). */
export function http2RequestHeaders(headers: IncomingHttpHeaders | Readonly<Record<string, string | number | readonly string[] | undefined>>): Record<string, string | string[]> {
  const out = forwardableHeaders(headers);
  for (const name of meshOnlyHeaders) delete out[name];
  delete out['host'];
  // The client's own hop answered any `expect: 100-continue` already.
  delete out['expect'];
  const te = headers['te'];
  if (typeof te === 'string' && te.split(',').some((t) => t.trim().toLowerCase() === 'trailers')) out['te'] = 'trailers';
  return out;
}

/** The headers of an upgrade request's next hop: the forwardable ones, with `Connection: upgrade` and its `Upgrade` put back. */
export function upgradeRequestHeaders(headers: IncomingHttpHeaders, forwardable: Record<string, string | string[]>): Record<string, string | string[]> {
  return { ...forwardable, connection: 'upgrade', upgrade: String(headers['upgrade'] ?? '') };
}

/** `host:port` of an authority without the port → host, lower case (IPv6 brackets removed). */
export function authorityHost(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') === -1 ? undefined : a.indexOf(']'));
  const colon = a.lastIndexOf(':');
  return colon === -1 ? a : a.slice(0, colon);
}

/** The port of `host:port`, or `fallback` when it names none. */
export function authorityPort(authority: string, fallback: number): number {
  const m = /:(\d{1,5})$/.exec(authority.trim());
  return m ? Number(m[1]) : fallback;
}

/** What route matching reads of a request. */
export function requestFacts(method: string, target: string, headers: IncomingHttpHeaders, authority: string): RequestFacts {
  const { path, query } = splitTarget(target);
  return { method: method.toUpperCase(), path, query, headers, host: authorityHost(authority) };
}

/** The metrics' form (`meta.Metadata`) of a policy reference. */
export function policyMetadata(ref: PolicyRef): meta.Metadata {
  if (ref.kind === 'default') return { kind: { $case: 'default', default: ref.name } };
  return { kind: { $case: 'resource', resource: { group: ref.group, kind: ref.kind, name: ref.name, namespace: ref.namespace, section: '', port: 0 } } };
}

/** The metadata of an inbound Server, from its labels (group, kind, name, namespace). */
export function serverMetadata(server: inbound.Server, port: number): meta.Metadata {
  const l = server.labels;
  if (l['kind'] === 'default' || l['kind'] === undefined) return { kind: { $case: 'default', default: l['name'] ?? 'default' } };
  return { kind: { $case: 'resource', resource: { group: l['group'] ?? '', kind: l['kind'], name: l['name'] ?? '', namespace: l['namespace'] ?? '', section: '', port } } };
}
