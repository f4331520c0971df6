/*
 * The answers the inbound proxy makes itself instead of forwarding a
 * request: refusals (no route, not authorized, rate limited) and injected
 * failures, shaped for HTTP or for gRPC.
 */
import type { RequestDecision } from './authorize.js';

/** gRPC status codes the inbound side answers with. */
export const GrpcStatus = {
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
} as const;

/** A response the proxy writes itself. */
export interface ProxyResponse {
  /** The HTTP status; 200 for gRPC, whose status travels in `grpc-status`. */
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body for HTTP (the message and a newline); empty for gRPC. */
  readonly body: string;
}

/** Whether a request is a gRPC call (its content type is `application/grpc` or a `+suffix` of it). */
export function isGrpcRequest(headers: Readonly<Record<string, string | readonly string[] | undefined>>): boolean {
  const v = headers['content-type'];
  const ct = (typeof v === 'string' ? v : v?.[0] ?? '').toLowerCase();
  return ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;');
}

/** Percent-encodes a grpc-message as the gRPC HTTP/2 protocol asks: bytes outside 0x20–0x7e, and `%`. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * An error answer: for HTTP the status with the message in `l5d-proxy-error`
 * and the body; for gRPC a trailers-only response with `grpc-status` and
 * `grpc-message`.
 */
export function errorResponse(options: { readonly httpStatus: number; readonly grpcStatus: number; readonly message: string; readonly grpc: boolean; readonly headers?: Readonly<Record<string, string>> }): ProxyResponse {
  // Header values take neither line breaks nor, in Node.js, characters beyond Latin-1.
  const headerSafe = options.message.replace(/[^\x20-\x7e]/g, ' ');
  if (options.grpc) {
    return {
      status: 200,
      headers: { ...options.headers, 'content-type': 'application/grpc', 'grpc-status': String(options.grpcStatus), 'grpc-message': encodeGrpcMessage(options.message), 'l5d-proxy-error': headerSafe },
      body: '',
    };
  }
  return { status: options.httpStatus, headers: { ...options.headers, 'content-type': 'text/plain; charset=utf-8', 'l5d-proxy-error': headerSafe }, body: `${options.message}\n` };
}

/**
 * The answer to a refused request: no route → HTTP 404 / gRPC UNIMPLEMENTED
 * (the code a gRPC server gives for a method it does not serve); not
 * authorized → HTTP 403 / gRPC PERMISSION_DENIED. Undefined for an admitted request.
 */
export function refusalResponse(decision: RequestDecision, grpc: boolean): ProxyResponse | undefined {
  switch (decision.outcome) {
    case 'allowed':
      return undefined;
    case 'no-route':
      return errorResponse({ httpStatus: 404, grpcStatus: GrpcStatus.UNIMPLEMENTED, message: decision.reason, grpc });
    case 'denied':
      return errorResponse({ httpStatus: 403, grpcStatus: GrpcStatus.PERMISSION_DENIED, message: decision.reason, grpc });
  }
}
