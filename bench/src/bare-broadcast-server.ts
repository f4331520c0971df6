#!/usr/bin/env node
/*
 * The baseline of the fan-out benchmark: a bare grpc-js server with the
 * gateway's Destination service definition and server options, and nothing
 * else. On a 'broadcast' command it writes the pre-encoded messages it was
 * given to every open Destination.Get stream in one loop: the least work any
 * grpc-js server can do to push one update to N streams. Run as a child
 * process, like the gateway, so both are measured the same way.
 */
import { Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { destinationServiceDefinition } from '@meshbus/gateway';
import type { BareCommand, BareReport } from './fanout-protocol.js';

const send = (report: BareReport): void => {
  process.send!(report);
};

const open = new Set<ServerWritableStream<unknown, Buffer>>();
let initial: Buffer[] = [];
let prepared: Buffer[] = [];

// The gateway's server options (services/gateway/src/gateway-service.ts), so the transports match.
const server = new Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 });
server.addService(destinationServiceDefinition, {
  get(call: ServerWritableStream<unknown, Buffer>) {
    open.add(call);
    const forget = () => open.delete(call);
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', forget);
    for (const m of initial) call.write(m);
  },
  getProfile(call: ServerWritableStream<unknown, Buffer>) {
    call.emit('error', { code: status.UNIMPLEMENTED, details: 'the baseline serves Get only' });
  },
});

const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
);

const decode = (messages: string[]) => messages.map((m) => Buffer.from(m, 'base64'));

process.on('message', (command: BareCommand) => {
  switch (command.type) {
    case 'initial':
      initial = decode(command.messages);
      send({ type: 'ready' });
      break;
    case 'prepare':
      prepared = decode(command.messages);
      send({ type: 'ready' });
      break;
    case 'broadcast': {
      const started = process.hrtime.bigint();
      for (const call of open) for (const m of prepared) call.write(m);
      send({ type: 'broadcasted', streams: open.size, loopMs: Number(process.hrtime.bigint() - started) / 1e6 });
      break;
    }
    case 'memory': {
      const { rss, heapUsed } = process.memoryUsage();
      send({ type: 'memory', rss, heapUsed });
      break;
    }
  }
});
process.on('disconnect', () => {
  server.forceShutdown();
  process.exit(0);
});
send({ type: 'listening', port });
