/*
 * The client side of a multicluster tunnel: mesh TLS to a linked cluster's
 * gateway (which must present the gateway identity, ALPN `meshbus.tunnel`),
 * `CONNECT <authority>`, then the usual mesh TLS to the remote workload
 * inside the tunnel, so that the workload sees this proxy's identity.
 * The CONNECT exchange itself is a pure reader over the bytes received.
 */
import type { TLSSocket } from 'node:tls';
import { MeshbusError } from '@meshbus/core';
import { errorMessage } from '@meshbus/runtime';
import type { MeshTls } from './mesh-tls.js';

/** ALPN the client offers to a multicluster gateway. */
export const TUNNEL_ALPN = 'meshbus.tunnel';

/** Longest response head (status line and headers) a gateway may send. */
export const MAX_CONNECT_RESPONSE_HEAD = 8192;
/** Longest body line of a refusal the error quotes. */
const MAX_REFUSAL_BODY = 512;

/** Stable codes of {@link TunnelError}. */
export const TunnelErrorCode = {
  /** The authority is not `host:port`. */
  InvalidAuthority: 'InvalidAuthority',
  /** The gateway did not select ALPN `meshbus.tunnel`. */
  NotATunnel: 'NotATunnel',
  /** The gateway answered CONNECT with a status other than 200. */
  Refused: 'Refused',
  /** The gateway's answer is not an HTTP/1.1 response, or is too long. */
  BadResponse: 'BadResponse',
  /** The gateway closed the connection (or it failed) before answering. */
  Closed: 'Closed',
  /** No answer to CONNECT in time. */
  Timeout: 'Timeout',
  /** The gateway chose a workload whose identity is not one the service presents. */
  UnexpectedIdentity: 'UnexpectedIdentity',
} as const;
export type TunnelErrorCode = (typeof TunnelErrorCode)[keyof typeof TunnelErrorCode];

/** Why a tunnel through a multicluster gateway could not be opened. */
export class TunnelError extends MeshbusError {
  override name = 'TunnelError';
  declare readonly code: TunnelErrorCode;
  /** The gateway's status, when it answered with one. */
  readonly status: number | undefined;

  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, message, options);
    this.status = options?.status;
  }
}

const AUTHORITY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*:[0-9]{1,5}$/;

/** The CONNECT request for `authority` (`host:port`). Throws {@link TunnelError} `InvalidAuthority`. */
export function connectRequest(authority: string): string {
  if (!AUTHORITY.test(authority) || Number(authority.slice(authority.lastIndexOf(':') + 1)) > 65535) {
    throw new TunnelError(TunnelErrorCode.InvalidAuthority, `the tunnel authority ${JSON.stringify(authority)} is not <host>:<port>`);
  }
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

/** What the bytes received so far make of a CONNECT response. */
export type ConnectResponse =
  /** More bytes are needed. */
  | { readonly kind: 'incomplete' }
  /**
   * 200: the tunnel is open; `rest` are bytes that came after the head (the tunnel's first bytes);
   * `targetPort` is the port of the workload the gateway chose (its `Meshbus-Target-Port` header),
   * which requests inside the tunnel name as their destination port; `targetIdentity` the identity
   * that workload presents (`Meshbus-Target-Identity`), when the gateway names it.
   */
  | { readonly kind: 'open'; readonly rest: Buffer; readonly targetPort: number | undefined; readonly targetIdentity: string | undefined }
  /** Another status; `body` is the body's first line once complete (`bodyComplete`), or what came so far. */
  | { readonly kind: 'refused'; readonly status: number; readonly reason: string; readonly body: string; readonly bodyComplete: boolean }
  | { readonly kind: 'invalid'; readonly problem: string };

const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})(?: (.*))?$/;
/** A DNS-like identity of at most 253 characters. */
const IDENTITY = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Reads a gateway's answer to CONNECT from `received` (everything received so far). A refusal's
 * body line is complete at its first line end, at `Content-Length`, or when `ended` (the gateway
 * closed its side).
 */
export function parseConnectResponse(received: Buffer, ended = false): ConnectResponse {
  const headEnd = received.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (received.length > MAX_CONNECT_RESPONSE_HEAD) return { kind: 'invalid', problem: `the response head is longer than ${MAX_CONNECT_RESPONSE_HEAD} bytes` };
    if (received.length >= 5 && !received.subarray(0, 5).equals(Buffer.from('HTTP/'))) return { kind: 'invalid', problem: `the answer does not start with an HTTP status line: ${quote(received)}` };
    return { kind: 'incomplete' };
  }
  if (headEnd > MAX_CONNECT_RESPONSE_HEAD) return { kind: 'invalid', problem: `the response head is longer than ${MAX_CONNECT_RESPONSE_HEAD} bytes` };
  const lines = received.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = STATUS_LINE.exec(lines[0] ?? '');
  if (!match) return { kind: 'invalid', problem: `the answer does not start with an HTTP status line: ${quote(received.subarray(0, headEnd))}` };
  const status = Number(match[1]);
  const reason = match[2] ?? '';
  const rest = received.subarray(headEnd + 4);
  if (status === 200) {
    const portLine = lines.slice(1).find((l) => /^meshbus-target-port:/i.test(l));
    const portText = portLine?.slice(portLine.indexOf(':') + 1).trim();
    const port = portText !== undefined && /^\d{1,5}$/.test(portText) ? Number(portText) : undefined;
    if (portText !== undefined && (port === undefined || port < 1 || port > 65535)) return { kind: 'invalid', problem: `Meshbus-Target-Port ${JSON.stringify(portText)} is not a port` };
    const identityLine = lines.slice(1).find((l) => /^meshbus-target-identity:/i.test(l));
    const identity = identityLine?.slice(identityLine.indexOf(':') + 1).trim().toLowerCase();
    if (identity !== undefined && !IDENTITY.test(identity)) return { kind: 'invalid', problem: `Meshbus-Target-Identity ${JSON.stringify(identity.slice(0, 80))} is not an identity` };
    return { kind: 'open', rest, targetPort: port, targetIdentity: identity };
  }
  const lengthLine = lines.slice(1).find((l) => /^content-length:/i.test(l));
  const length = lengthLine === undefined ? undefined : Number(lengthLine.slice(lengthLine.indexOf(':') + 1).trim());
  const lineEnd = rest.indexOf('\n');
  const limit = Math.min(lineEnd >= 0 ? lineEnd : rest.length, length !== undefined && Number.isFinite(length) ? length : rest.length, MAX_REFUSAL_BODY);
  const bodyComplete = ended || lineEnd >= 0 || (length !== undefined && rest.length >= length) || rest.length >= MAX_REFUSAL_BODY;
  return { kind: 'refused', status, reason, body: rest.subarray(0, limit).toString('utf8').replace(/\r$/, ''), bodyComplete };
}

function quote(bytes: Buffer): string {
  return JSON.stringify(bytes.subarray(0, 80).toString('latin1'));
}

/** What the gateway said of the workload it chose, in its 200. */
export interface TunnelOpened {
  /** The workload's port (`Meshbus-Target-Port`). */
  readonly targetPort: number | undefined;
  /** The workload's identity (`Meshbus-Target-Identity`). */
  readonly targetIdentity: string | undefined;
}

/** Sends CONNECT on `socket` and waits for the answer; on 200 the bytes after the head are put back. */
export function requestTunnel(socket: TLSSocket, authority: string, where: string, timeoutMs: number): Promise<TunnelOpened> {
  const request = connectRequest(authority);
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (error?: TunnelError, rest?: Buffer, opened?: TunnelOpened): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      resolve(opened ?? { targetPort: undefined, targetIdentity: undefined });
    };
    const judge = (ended: boolean): void => {
      const answer = parseConnectResponse(received, ended);
      if (answer.kind === 'open') finish(undefined, answer.rest, { targetPort: answer.targetPort, targetIdentity: answer.targetIdentity });
      else if (answer.kind === 'invalid') finish(new TunnelError(TunnelErrorCode.BadResponse, `the gateway at ${where} answered CONNECT ${authority} with no valid response: ${answer.problem}`));
      else if (answer.kind === 'refused' && answer.bodyComplete) {
        const body = answer.body === '' ? '' : `: ${answer.body}`;
        finish(new TunnelError(TunnelErrorCode.Refused, `the gateway at ${where} refused CONNECT ${authority} with ${answer.status}${answer.reason === '' ? '' : ` ${answer.reason}`}${body}`, { status: answer.status }));
      } else if (ended) {
        finish(new TunnelError(TunnelErrorCode.Closed, `the gateway at ${where} closed the connection before answering CONNECT ${authority}`));
      }
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      judge(false);
    };
    const onEnd = (): void => judge(true);
    const onClose = (): void => judge(true);
    const onError = (error: Error): void =>
      finish(new TunnelError(TunnelErrorCode.Closed, `the connection to the gateway at ${where} failed before it answered CONNECT ${authority}: ${errorMessage(error)}`, { cause: error }));
    const timer = setTimeout(() => finish(new TunnelError(TunnelErrorCode.Timeout, `the gateway at ${where} did not answer CONNECT ${authority} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(request);
  });
}

/** Where a tunnel goes: the gateway, and the workload behind it. */
export interface TunnelTarget {
  /** The gateway's address and port. */
  readonly host: string;
  readonly port: number;
  /** The identity the gateway must present. */
  readonly gatewayIdentity: string;
  /** `<svc>.<ns>.svc.<domain>:<port>`, what the gateway is asked for. */
  readonly authority: string;
  /** The identity the remote workload must present inside the tunnel, when the gateway names none. */
  readonly serverIdentity: string;
  /**
   * Identities the gateway may name for the workload it chose (`Meshbus-Target-Identity`), besides
   * `serverIdentity`: those the remote service's workloads present. Another is refused.
   */
  readonly acceptedIdentities?: readonly string[];
  readonly serverName?: string | undefined;
  /** ALPN of the inner mesh TLS. @default MESH_CLIENT_ALPN (`h2`) */
  readonly alpn?: readonly string[];
  /** Bounds each of the three steps. @default 10000 */
  readonly timeoutMs?: number;
  /** The inner connection stays open for writing when the workload ends its side. @default false */
  readonly allowHalfOpen?: boolean;
  /** Told the workload's port the gateway announced (undefined when it named none) and the identity required of it, once the tunnel is open. */
  readonly onOpen?: (opened: { readonly targetPort: number | undefined; readonly serverIdentity: string }) => void;
}

/**
 * Opens a tunnel through a multicluster gateway and returns the inner mesh TLS connection to the
 * remote workload. Rejects with a `MeshTlsError` when either identity is not proven (or a handshake
 * fails) and with {@link TunnelError} when the gateway does not open the tunnel. Closing the inner
 * connection closes the one to the gateway.
 */
export async function connectTunnel(tls: MeshTls, target: TunnelTarget): Promise<TLSSocket> {
  const timeoutMs = target.timeoutMs ?? 10_000;
  const where = `${target.host}:${target.port}`;
  connectRequest(target.authority);
  const outer = await tls.connect({ host: target.host, port: target.port, serverIdentity: target.gatewayIdentity, alpn: [TUNNEL_ALPN], timeoutMs, allowHalfOpen: true });
  try {
    if (outer.alpnProtocol !== TUNNEL_ALPN) {
      throw new TunnelError(TunnelErrorCode.NotATunnel, `the gateway at ${where} did not select ALPN ${TUNNEL_ALPN} (it selected ${outer.alpnProtocol || 'none'})`);
    }
    const opened = await requestTunnel(outer, target.authority, where, timeoutMs);
    const serverIdentity = innerIdentity(target, opened.targetIdentity, where);
    target.onOpen?.({ targetPort: opened.targetPort, serverIdentity });
    const inner = await tls.connect({
      host: target.host,
      port: target.port,
      socket: outer,
      serverIdentity,
      ...(target.serverName !== undefined ? { serverName: target.serverName } : {}),
      ...(target.alpn !== undefined ? { alpn: target.alpn } : {}),
      timeoutMs,
      allowHalfOpen: target.allowHalfOpen ?? false,
    });
    inner.once('close', () => outer.destroy());
    outer.on('error', () => undefined);
    return inner;
  } catch (error) {
    outer.destroy();
    throw error;
  }
}

/**
 * The identity the workload inside the tunnel must prove: the one the gateway named for the
 * workload it chose, when the service's workloads present it, else `serverIdentity`.
 */
export function innerIdentity(target: Pick<TunnelTarget, 'authority' | 'serverIdentity' | 'acceptedIdentities'>, named: string | undefined, where: string): string {
  if (named === undefined || named === target.serverIdentity) return target.serverIdentity;
  if (target.acceptedIdentities?.includes(named)) return named;
  throw new TunnelError(
    TunnelErrorCode.UnexpectedIdentity,
    `the gateway at ${where} chose a workload of ${target.authority} with identity ${named}, which is not one its workloads present (${[target.serverIdentity, ...(target.acceptedIdentities ?? [])].filter((v, i, a) => a.indexOf(v) === i).join(', ')})`,
  );
}
