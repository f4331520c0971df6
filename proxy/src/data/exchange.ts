/*
 * One request through the proxy, whatever carried it: the client's side
 * (HTTP/1.1 request and response, or an HTTP/2 stream) and the endpoint's
 * side (an HTTP/1.1 request, or an HTTP/2 stream), so that routing, retries
 * and authorization are written once. HTTP/2 responses keep their shape:
 * trailers are relayed, and a response that ends with its headers (gRPC's
 * trailers-only answer) stays one.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { constants, type ClientHttp2Stream, type IncomingHttpStatusHeader, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { finished, type Readable, type Writable } from 'node:stream';
import type { ProxyResponse } from '../inbound/index.js';
import { forwardableHeaders } from './http-headers.js';

/** Header values as Node.js takes them for a request or response. */
export type HeaderValues = Record<string, string | string[]>;

/** A response from an endpoint or the workload, before it is relayed. */
export interface UpstreamResponse {
  readonly status: number;
  /** Its headers, hop-by-hop ones removed. */
  readonly headers: HeaderValues;
  /** The response ended with its headers (HTTP/2 END_STREAM on HEADERS): gRPC's trailers-only answer. */
  readonly headersOnly: boolean;
  readonly body: Readable;
  /** Its trailers, once `body` has ended; empty when it had none. */
  trailers(): HeaderValues;
}

/** What the side that sends a request to an endpoint hears back. */
export interface UpstreamEvents {
  response(response: UpstreamResponse): void;
  /** No response: the connection failed, the stream was reset, or the exchange was aborted. */
  error(error: Error): void;
}

/** A request under way to an endpoint: its body goes to `body`; `abort` resets it. */
export interface UpstreamExchange {
  readonly body: Writable;
  abort(error?: Error): void;
}

/** The grpc-status of headers or trailers, when they carry one. */
export function grpcStatusOf(headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const v = headers['grpc-status'];
  const text = Array.isArray(v) ? v[0] : v;
  return text !== undefined && /^\d{1,2}$/.test(text) ? Number(text) : undefined;
}

/** The endpoint's side over HTTP/1.1. */
export function http1Exchange(request: ClientRequest, on: UpstreamEvents): UpstreamExchange {
  let answered = false;
  request.on('response', (response: IncomingMessage) => {
    answered = true;
    on.response({
      status: response.statusCode ?? 502,
      headers: forwardableHeaders(response.headers),
      headersOnly: false,
      body: response,
      trailers: () => forwardableHeaders(response.trailers),
    });
  });
  request.on('error', (error) => {
    if (!answered) on.error(error);
  });
  return { body: request, abort: (error) => request.destroy(error) };
}

/** The endpoint's side over HTTP/2. */
export function http2Exchange(stream: ClientHttp2Stream, on: UpstreamEvents): UpstreamExchange {
  let answered = false;
  let failed = false;
  let trailers: HeaderValues = {};
  const fail = (error: Error): void => {
    if (answered || failed) return;
    failed = true;
    on.error(error);
  };
  stream.on('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
    answered = true;
    on.response({
      status: Number(headers[':status'] ?? 502),
      headers: forwardableHeaders(headers),
      headersOnly: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
      body: stream,
      trailers: () => trailers,
    });
  });
  stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = forwardableHeaders(t)));
  stream.on('error', fail);
  stream.on('close', () => fail(new Error(`the stream closed before a response (code ${stream.rstCode ?? 0})`)));
  return { body: stream, abort: (error) => (error ? stream.destroy(error) : stream.close(constants.NGHTTP2_CANCEL)) };
}

/** How the relay of a response ended. */
export interface RelayEnd {
  /** Body bytes relayed. */
  readonly bytes: number;
  /** The grpc-status of the response's trailers (or of its headers), if any. */
  readonly grpcStatus?: number | undefined;
  /** The response broke off before its end (the endpoint reset it, or the client went away). */
  readonly broken: boolean;
}

/** The client's side of one request. */
export interface Downstream {
  readonly version: 'http1' | 'http2';
  readonly method: string;
  /** The request target as received: origin form (`/a?b`) or, over HTTP/1.1 to a proxy, absolute form. */
  readonly target: string;
  /** HTTP/2 `:authority`, else the `Host` header. */
  readonly authority: string | undefined;
  /** Request headers, without HTTP/2 pseudo-headers. */
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  readonly socket: Socket;
  /** For the access log: `HTTP/1.1`, `HTTP/2.0`. */
  readonly protocol: string;
  /** The client went away, or the answer is complete. */
  readonly closed: boolean;
  /** The response has begun. */
  readonly responding: boolean;
  /** `listener` runs if the client goes away before the response is complete. */
  onAbort(listener: () => void): void;
  /** Answers with a response of the proxy's own (HTTP/2 gRPC errors as trailers-only responses). */
  answer(response: ProxyResponse): void;
  /** Relays an endpoint's response, headers as given (already filtered), then its body and trailers. */
  relay(response: UpstreamResponse, headers: HeaderValues, onEnd: (end: RelayEnd) => void): void;
}

const noBodyStatus = (status: number): boolean => status === 204 || status === 304 || (status >= 100 && status < 200);

/** Follows `body` to its end (or its break), counting bytes. */
function follow(body: Readable, onEnd: (bytes: number, broken: boolean) => void): void {
  let bytes = 0;
  body.on('data', (chunk: Buffer) => (bytes += chunk.length));
  finished(body, { readable: true, writable: false }, (error) => onEnd(bytes, error !== undefined && error !== null));
}

/** The client's side of an HTTP/1.1 request. */
export function http1Downstream(req: IncomingMessage, res: ServerResponse): Downstream {
  let complete = false;
  res.once('finish', () => (complete = true));
  return {
    version: 'http1',
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    authority: req.headers.host,
    headers: req.headers,
    body: req,
    socket: req.socket,
    protocol: `HTTP/${req.httpVersion}`,
    get closed() {
      return complete || res.destroyed;
    },
    get responding() {
      return res.headersSent;
    },
    onAbort: (listener) =>
      res.once('close', () => {
        if (!res.writableFinished) listener();
      }),
    answer: (response) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (res.destroyed) return;
      res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
      res.end(req.method === 'HEAD' ? undefined : response.body);
    },
    relay: (response, headers, onEnd) => {
      if (res.destroyed) {
        response.body.resume();
        onEnd({ bytes: 0, broken: true });
        return;
      }
      res.writeHead(response.status, headers);
      response.body.pipe(res, { end: false });
      follow(response.body, (bytes, broken) => {
        const trailers = response.trailers();
        const grpcStatus = grpcStatusOf(trailers) ?? grpcStatusOf(response.headers);
        if (broken) res.destroy();
        else {
          // Node.js sends trailers only on a chunked response; on others they are dropped.
          if (Object.keys(trailers).length > 0 && headers['content-length'] === undefined) res.addTrailers(trailers);
          res.end();
        }
        onEnd({ bytes, grpcStatus, broken });
      });
    },
  };
}

/** The client's side of an HTTP/2 stream. */
export function http2Downstream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, socket: Socket): Downstream {
  const plain: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith(':')) plain[name] = value as string | string[];
  const method = String(headers[':method'] ?? 'GET');
  stream.on('error', () => undefined);
  const respondOnly = (status: number, h: HeaderValues | Readonly<Record<string, string>>): void => {
    stream.respond({ ':status': status, ...h }, { endStream: true });
  };
  return {
    version: 'http2',
    method,
    target: String(headers[':path'] ?? '/'),
    authority: typeof headers[':authority'] === 'string' ? headers[':authority'] : plain.host,
    headers: plain,
    body: stream,
    socket,
    protocol: 'HTTP/2.0',
    get closed() {
      return stream.closed || stream.destroyed;
    },
    get responding() {
      return stream.headersSent;
    },
    onAbort: (listener) =>
      stream.once('close', () => {
        if (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) listener();
        else if (!stream.writableFinished) listener();
      }),
    answer: (response) => {
      if (stream.destroyed || stream.closed) return;
      if (stream.headersSent) {
        stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      // gRPC's answer without messages is trailers-only: one HEADERS frame that ends the stream.
      if (response.headers['grpc-status'] !== undefined) {
        respondOnly(response.status, response.headers);
        return;
      }
      const length = Buffer.byteLength(response.body);
      if (length === 0 || method === 'HEAD' || noBodyStatus(response.status)) {
        respondOnly(response.status, { ...response.headers, 'content-length': String(length) });
        return;
      }
      stream.respond({ ':status': response.status, ...response.headers, 'content-length': length });
      stream.end(response.body);
    },
    relay: (response, out, onEnd) => {
      if (stream.destroyed || stream.closed) {
        response.body.resume();
        onEnd({ bytes: 0, broken: true });
        return;
      }
      if (response.headersOnly || method === 'HEAD' || noBodyStatus(response.status)) {
        respondOnly(response.status, out);
        response.body.resume();
        follow(response.body, (bytes) => onEnd({ bytes, grpcStatus: grpcStatusOf(response.headers), broken: false }));
        return;
      }
      stream.respond({ ':status': response.status, ...out }, { waitForTrailers: true });
      // An HTTP/2 response without trailers still ends: no trailer headers send an empty DATA frame with END_STREAM.
      stream.once('wantTrailers', () => stream.sendTrailers(response.trailers()));
      response.body.pipe(stream, { end: false });
      follow(response.body, (bytes, broken) => {
        const grpcStatus = grpcStatusOf(response.trailers()) ?? grpcStatusOf(response.headers);
        if (broken) {
          if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        } else if (!stream.destroyed) stream.end();
        onEnd({ bytes, grpcStatus, broken });
      });
    },
  };
}
