/*
 * HTTP/1.1 upgrades (WebSocket and the like): the request goes to the next
 * hop with its Upgrade header, and when that hop switches protocols (101)
 * the two connections are joined so that bytes flow both ways. HTTP/2
 * cannot carry an upgrade, so each upgraded request has a connection of
 * its own at every hop.
 */
import { STATUS_CODES, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyResponse } from '../inbound/index.js';

function head(status: number, message: string | undefined, headers: readonly (readonly [string, string])[]): Buffer {
  const lines = [`HTTP/1.1 ${status} ${message || STATUS_CODES[status] || ''}`, ...headers.map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, ' ')}`), '', ''];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function pairs(rawHeaders: readonly string[], leaveOut: ReadonlySet<string>): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (!leaveOut.has(rawHeaders[i]!.toLowerCase())) out.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
  return out;
}

/** The protocol an upgrade request asks for (the first of its `Upgrade` header, lower case), as a span fact. */
export function upgradeProtocol(headers: IncomingHttpHeaders): { protocol?: string } {
  const value = headers.upgrade?.split(',')[0]?.trim().toLowerCase();
  return value ? { protocol: value } : {};
}

/** Writes a response of the proxy's own on a connection whose request asked for an upgrade, and closes it. */
export function answerOnSocket(socket: Socket, response: ProxyResponse): void {
  if (socket.destroyed) return;
  const body = Buffer.from(response.body, 'utf8');
  const headers: [string, string][] = [...Object.entries(response.headers), ['content-length', String(body.length)], ['connection', 'close']];
  socket.end(Buffer.concat([head(response.status, undefined, headers), body]));
}

/** What became of an upgrade request sent on. */
export interface UpgradeEvents {
  /**
   * The next hop switched protocols; its 101 was relayed. Join `upstream` with the client's
   * connection. `carried`: the bytes that came with the handshakes (after the client's request,
   * after the 101), already passed on.
   */
  upgraded(status: number, upstream: Socket, carried: { readonly read: number; readonly written: number }): void;
  /** The next hop answered without switching; the answer was relayed, and the client's connection closes after it. */
  answered(status: number): void;
  /** No answer: the connection failed. Nothing was written to the client. */
  failed(error: Error): void;
}

const framing = new Set(['transfer-encoding', 'connection', 'keep-alive']);

/**
 * Sends `request` (an upgrade request not yet ended) and relays what comes
 * back to `client`: a 101 with its headers as they came, then `head` (the
 * bytes the client sent after its request) to the next hop; any other
 * answer with `connection: close`.
 */
export function relayUpgrade(request: ClientRequest, client: Socket, clientHead: Buffer, on: UpgradeEvents): void {
  let settled = false;
  request.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    settled = true;
    const status = res.statusCode ?? 101;
    client.write(head(status, res.statusMessage, pairs(res.rawHeaders, new Set())));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (clientHead.length > 0) upstream.write(clientHead);
    on.upgraded(status, upstream, { read: clientHead.length, written: upstreamHead.length });
  });
  request.on('response', (res: IncomingMessage) => {
    settled = true;
    const status = res.statusCode ?? 502;
    client.write(head(status, res.statusMessage, [...pairs(res.rawHeaders, framing), ['connection', 'close']]));
    res.pipe(client);
    res.on('error', () => client.destroy());
    on.answered(status);
  });
  request.on('error', (error) => {
    if (!settled) on.failed(error);
    else client.destroy();
  });
  request.end();
}
