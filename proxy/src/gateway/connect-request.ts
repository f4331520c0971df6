import { isDnsLabel } from '@meshbus/core';

/** The largest CONNECT header block the gateway reads, its final empty line included. */
export const MAX_CONNECT_HEAD_BYTES = 8 * 1024;

/** The service port a tunnel asks for: `<service>.<namespace>.svc.<cluster-domain>:<port>`. */
export interface TunnelAuthority {
  /** As sent, lower-cased. */
  readonly authority: string;
  readonly service: string;
  readonly namespace: string;
  readonly clusterDomain: string;
  readonly port: number;
}

/** What the bytes received so far on a tunnel make. */
export type ConnectParse =
  /** No end of the header block yet, and still under the bound: read on. */
  | { readonly kind: 'incomplete' }
  /** Not a CONNECT the gateway takes (answered 400). */
  | { readonly kind: 'malformed'; readonly reason: string }
  /** A CONNECT; `rest` are the bytes after the header block (the start of the tunnelled stream). */
  | { readonly kind: 'connect'; readonly target: TunnelAuthority; readonly rest: Buffer };

const END = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Reads `<service>.<namespace>.svc.<cluster-domain>:<port>`; a reason when it is not that. */
export function parseTunnelAuthority(text: string): TunnelAuthority | string {
  const authority = text.toLowerCase();
  const m = /^([^.:]+)\.([^.:]+)\.svc\.([^:]+):(\d{1,5})$/.exec(authority);
  if (!m) return `${JSON.stringify(text)} is not <service>.<namespace>.svc.<cluster-domain>:<port>`;
  const [, service, namespace, clusterDomain, portText] = m as unknown as [string, string, string, string, string];
  if (!isDnsLabel(service)) return `the service ${JSON.stringify(service)} is not a DNS label`;
  if (!isDnsLabel(namespace)) return `the namespace ${JSON.stringify(namespace)} is not a DNS label`;
  if (clusterDomain.length > 253 || !clusterDomain.split('.').every((l) => isDnsLabel(l))) return `the cluster domain ${JSON.stringify(clusterDomain)} is not a DNS name`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `the port ${portText} is not in 1-65535`;
  return { authority, service, namespace, clusterDomain, port };
}

/**
 * Parses the start of a tunnel: `CONNECT <authority> HTTP/1.1`, header lines (exactly one `Host`,
 * equal to the authority), an empty line, all within {@link MAX_CONNECT_HEAD_BYTES}. Lines end
 * with CRLF; no other CR or LF, no obsolete line folding, no NUL.
 */
export function parseConnectHead(received: Buffer, maxBytes = MAX_CONNECT_HEAD_BYTES): ConnectParse {
  const end = received.indexOf(END);
  if (end < 0 || end + END.length > maxBytes) {
    if (received.length >= maxBytes || end >= 0) return { kind: 'malformed', reason: `the CONNECT header block is larger than ${maxBytes} bytes` };
    return { kind: 'incomplete' };
  }
  const head = received.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  if (lines.some((l) => /[\r\n\0]/.test(l))) return { kind: 'malformed', reason: 'the CONNECT header block has a bare CR, LF or NUL' };
  const requestLine = lines[0]!;
  const request = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(requestLine);
  if (!request) return { kind: 'malformed', reason: 'the request line is not CONNECT <authority> HTTP/1.1' };
  const [, method, target, version] = request as unknown as [string, string, string, string];
  if (method !== 'CONNECT') return { kind: 'malformed', reason: `the gateway takes CONNECT only, not ${method}` };
  if (version !== 'HTTP/1.1') return { kind: 'malformed', reason: `the gateway takes HTTP/1.1 only, not ${version}` };
  const parsed = parseTunnelAuthority(target);
  if (typeof parsed === 'string') return { kind: 'malformed', reason: parsed };
  const hosts: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) return { kind: 'malformed', reason: `${JSON.stringify(line.slice(0, 64))} is not a header line` };
    if (name.toLowerCase() === 'host') hosts.push(line.slice(colon + 1).trim().toLowerCase());
  }
  if (hosts.length !== 1) return { kind: 'malformed', reason: hosts.length === 0 ? 'the CONNECT has no Host header' : 'the CONNECT has more than one Host header' };
  if (hosts[0] !== parsed.authority) return { kind: 'malformed', reason: `the Host header ${JSON.stringify(hosts[0])} is not the CONNECT authority ${parsed.authority}` };
  return { kind: 'connect', target: parsed, rest: Buffer.from(received.subarray(end + END.length)) };
}
