import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import { formatIp, MeshbusError } from '@meshbus/core';
import type * as Koffi from 'koffi';

/**
 * The original destination of a connection could not be read. `code`:
 * `Unsupported` (not Linux), `NoDescriptor` (the socket has no OS file
 * descriptor, e.g. it is closed or not a TCP socket), `NotRedirected` (the
 * kernel tracks no address translation for it: no rule redirected it),
 * `Failed` (another getsockopt error; the message has the errno).
 */
export class OriginalDestinationError extends MeshbusError {
  override name = 'OriginalDestinationError';
  constructor(code: 'Unsupported' | 'NoDescriptor' | 'NotRedirected' | 'Failed', message: string) {
    super(code, message);
  }
}

/** Where a redirected connection was going before the nat table sent it to the proxy. */
export interface OriginalDestination {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

// Linux: linux/in.h, linux/in6.h, linux/netfilter_ipv4.h, linux/netfilter_ipv6/ip6_tables.h.
const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const IP6T_SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;
const ENOENT = 2;
const SOCKADDR_IN6_SIZE = 28;

/**
 * Reads a `sockaddr_in` or `sockaddr_in6` as the kernel fills it in
 * (family in host byte order, which is little-endian on the platforms
 * Node supports; port and address in network byte order).
 */
export function parseSockaddr(bytes: Uint8Array): OriginalDestination {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8) throw new OriginalDestinationError('Failed', `a socket address of ${bytes.byteLength} bytes is too short`);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) {
    return { family: 4, address: Array.from(bytes.subarray(4, 8)).join('.'), port };
  }
  if (family === AF_INET6) {
    if (bytes.byteLength < 24) throw new OriginalDestinationError('Failed', `an IPv6 socket address of ${bytes.byteLength} bytes is too short`);
    return { family: 6, address: formatIp({ family: 6, high: view.getBigUint64(8, false), low: view.getBigUint64(16, false) }), port };
  }
  throw new OriginalDestinationError('Failed', `the socket address has family ${family}, neither IPv4 (${AF_INET}) nor IPv6 (${AF_INET6})`);
}

/**
 * The OS file descriptor behind a connected `net.Socket`. Node keeps it on
 * the socket's internal handle (`_handle.fd`, set on Linux and macOS); this is
 * the only place that reaches into it.
 */
export function socketDescriptor(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new OriginalDestinationError('NoDescriptor', 'the socket has no file descriptor: it is closed, not yet connected, or not a TCP socket of this process');
  }
  return fd;
}

type Getsockopt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;

interface Libc {
  readonly getsockopt: Getsockopt;
  readonly errno: () => number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  // Loaded on first use: koffi's native part is only needed where connections are redirected.
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const lib = koffi.load('libc.so.6');
  const getsockopt = lib.func('int getsockopt(int sockfd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)') as Getsockopt;
  libc = { getsockopt, errno: () => koffi.errno() };
  return libc;
}

function isIpv4Socket(localAddress: string | undefined): boolean {
  if (localAddress === undefined) return true;
  if (isIP(localAddress) === 4) return true;
  return localAddress.toLowerCase().startsWith('::ffff:') && isIP(localAddress.slice(7)) === 4;
}

/**
 * The original destination of an accepted connection that an iptables
 * REDIRECT sent to this listener (getsockopt SO_ORIGINAL_DST for IPv4,
 * IP6T_SO_ORIGINAL_DST for IPv6). For a connection that was not redirected
 * but is tracked by the kernel, the answer is the connection's own local
 * address; with no tracking at all it throws `NotRedirected`.
 */
export function originalDestination(socket: Socket): OriginalDestination {
  if (process.platform !== 'linux') {
    throw new OriginalDestinationError('Unsupported', `the original destination of a connection can be read on Linux only, not on ${process.platform}`);
  }
  const fd = socketDescriptor(socket);
  const { getsockopt, errno } = loadLibc();
  const ipv4 = isIpv4Socket(socket.localAddress);
  const value = Buffer.alloc(SOCKADDR_IN6_SIZE);
  const length = [value.byteLength];
  const rc = ipv4 ? getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, value, length) : getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, value, length);
  if (rc !== 0) {
    const code = errno();
    if (code === ENOENT) {
      throw new OriginalDestinationError('NotRedirected', `no original destination for the connection to ${socket.localAddress}:${socket.localPort}: no redirect rule sent it here`);
    }
    throw new OriginalDestinationError('Failed', `getsockopt(${ipv4 ? 'SO_ORIGINAL_DST' : 'IP6T_SO_ORIGINAL_DST'}) failed with errno ${code}`);
  }
  return parseSockaddr(value.subarray(0, Math.min(length[0] ?? 0, value.byteLength)));
}
