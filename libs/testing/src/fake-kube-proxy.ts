import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Which service port a proxy target stands for. */
export interface FakeServiceRef {
  namespace: string;
  name: string;
  /** Port number or name; omitted, the target answers for any port of the service. */
  port?: number | string;
}

/** Options of a service proxy target. */
export interface FakeServiceProxyOptions {
  /** CA certificate(s) (PEM) to verify an https target with; without it, any certificate is accepted, as the API server does. */
  ca?: string;
}

export interface ProxyTarget {
  url: URL;
  ca: string | undefined;
}

/** The service part of a proxy path, `[scheme:]name[:port]`. */
export function parseServiceProxyName(text: string): { scheme: string | undefined; name: string; port: string | undefined } {
  const parts = text.split(':');
  if (parts.length === 3) return { scheme: parts[0] || undefined, name: parts[1]!, port: parts[2] || undefined };
  if (parts.length === 2) return { scheme: undefined, name: parts[0]!, port: parts[1] || undefined };
  return { scheme: undefined, name: text, port: undefined };
}

/** The key service proxy targets are registered under. */
export function serviceKey(namespace: string, name: string, port: string | undefined): string {
  return `${namespace}/${name}:${port ?? ''}`;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);

/** Forwards a request to `target` + `path` (and the query), streaming the body both ways. */
export function forward(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, path: string, search: string, onError: (message: string) => void): void {
  const url = new URL(target.url.toString());
  url.pathname = `${url.pathname.replace(/\/$/, '')}/${path}`;
  url.search = search;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const options = { method: req.method ?? 'GET', headers };
  const upstream =
    url.protocol === 'https:'
      ? httpsRequest(url, { ...options, ...(target.ca ? { ca: target.ca } : { rejectUnauthorized: false }) })
      : httpRequest(url, options);
  upstream.on('response', (answer) => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    res.writeHead(answer.statusCode ?? 502, out);
    answer.pipe(res);
  });
  upstream.on('error', (error) => onError(`error trying to reach service: ${error.message}`));
  req.pipe(upstream);
}
