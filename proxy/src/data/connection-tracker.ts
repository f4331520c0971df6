/*
 * The connections a listener accepted, so that shutdown can wait for them to
 * finish and close what is still open when the grace period ends.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

/** Tracks open sockets; {@link drain} closes idle ones and waits for the rest. */
export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();
  private draining = false;

  add(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** After the response of a request that came during the drain, the connection is closed. */
  watchHttp(server: HttpServer): void {
    server.prependListener('request', (_req, res) => {
      if (this.draining) res.setHeader('connection', 'close');
    });
  }

  get open(): number {
    return this.sockets.size;
  }

  /**
   * Waits up to `graceMs` for every tracked socket to close, calling
   * `closeIdle` now and then (keep-alive connections between requests);
   * destroys what is left.
   */
  async drain(graceMs: number, closeIdle: () => void): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + graceMs;
    closeIdle();
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
      closeIdle();
    }
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
