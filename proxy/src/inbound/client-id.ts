/*
 * The `l5d-client-id` header: the client's verified mesh identity, as the
 * receiving proxy hands it to its workload. Only the proxy may say who the
 * client is, so copies a client sends are removed before it is set.
 */
import type { ConnectionFacts } from './authorize.js';
import type { HeaderMap } from './filters.js';

/** The header that carries the client's mesh identity to the workload. */
export const clientIdHeader = 'l5d-client-id';

/**
 * Headers only the proxy may write toward the workload, removed from every
 * incoming request: the client's identity, the server's identity (a
 * response header in the mesh; a request that carries it makes a claim
 * about the peer), and the client's address (written by a proxy, never by a
 * client). Other `l5d-` headers (`l5d-dst-override`, `l5d-require-id`, …)
 * are requests a client may make of the mesh, not claims about it, and pass.
 */
export const proxyOnlyRequestHeaders: readonly string[] = [clientIdHeader, 'l5d-server-id', 'l5d-remote-ip'];

/**
 * The headers to forward to the workload: every incoming copy of the
 * proxy-only headers removed, then `l5d-client-id` set to the client's
 * verified identity when the connection is meshed (TLS with a client
 * identity). A plain connection, or TLS without a client identity, gets no
 * `l5d-client-id`. Returns a new map.
 */
export function withClientId(headers: HeaderMap, conn: ConnectionFacts): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || proxyOnlyRequestHeaders.includes(lower)) continue;
    out[lower] = typeof value === 'string' ? value : [...value];
  }
  if (conn.tls && conn.clientIdentity) out[clientIdHeader] = conn.clientIdentity;
  return out;
}
