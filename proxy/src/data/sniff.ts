/*
 * Protocol detection on accepted sockets: read the first bytes, decide, and
 * put them back so that the server the socket is handed to reads them again.
 */
import type { Socket } from 'node:net';

/** What the first bytes of a plain connection look like. */
export type SniffedProtocol = 'http1' | 'http2' | 'opaque';

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const http1RequestLine = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;

/** Whether `bytes` start an HTTP/2 preface, an HTTP/1 request line, or neither; `undefined` while undecided. */
export function sniffProtocol(bytes: Buffer): SniffedProtocol | undefined {
  const n = Math.min(bytes.length, http2Preface.length);
  if (bytes.subarray(0, n).equals(http2Preface.subarray(0, n))) return n === http2Preface.length ? 'http2' : undefined;
  const text = bytes.subarray(0, 1024).toString('latin1');
  if (http1RequestLine.test(text)) return 'http1';
  if (!/^[A-Z]{0,10}( \S*( H(T(T(P(\/(1(\.[01]?)?)?)?)?)?)?)?)?$/.test(text.split('\n')[0]!.replace(/\r$/, '')) || bytes.length >= 1024) return 'opaque';
  return undefined;
}

/**
 * Reads from `socket` until `decide` answers or `timeoutMs` passes (then
 * `onTimeout` is the answer), and unshifts what it read. A socket that
 * closes first answers `undefined`; so does one whose client ends its side
 * before the bytes decide (they cannot be put back after the end), which
 * is then closed.
 */
export function sniff<T>(socket: Socket, decide: (bytes: Buffer) => T | undefined, timeoutMs: number, onTimeout: T): Promise<T | undefined> {
  return new Promise((resolve) => {
    let bytes = Buffer.alloc(0);
    const finish = (answer: T | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.off('end', onEnd);
      socket.pause();
      if (bytes.length > 0) socket.unshift(bytes);
      resolve(answer);
    };
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      const answer = decide(bytes);
      if (answer !== undefined) finish(answer);
    };
    const onClose = (): void => finish(undefined);
    const onEnd = (): void => {
      bytes = Buffer.alloc(0);
      finish(undefined);
      socket.destroy();
    };
    const timer = setTimeout(() => finish(onTimeout), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.once('end', onEnd);
    // A socket paused by an earlier look at its first bytes does not flow again on its own.
    socket.resume();
  });
}
