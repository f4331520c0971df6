/*
 * The server process of the injector benchmark: the real injector webhook (events to NATS), or the
 * baseline, a bare Node HTTPS server answering a fixed AdmissionReview response. Started by
 * injector-bench.ts; reports `ready` with its port over IPC and stops on `stop` (so that
 * --cpu-prof writes its profile).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createInjectorService, envToConfig } from '@meshbus/injector';
import { silentLogger } from '@meshbus/runtime';

/** What the parent asks the server to be. */
export type InjectorServerCommand =
  | { type: 'start'; kind: 'injector'; env: Record<string, string> }
  | { type: 'start'; kind: 'baseline'; certFile: string; keyFile: string; response: string }
  | { type: 'cpu' }
  | { type: 'stop' };
export type InjectorServerReport = { type: 'ready'; port: number } | { type: 'cpu'; userUs: number; systemUs: number } | { type: 'failed'; message: string };

const send = (r: InjectorServerReport) => process.send?.(r);
let stop: (() => Promise<void>) | undefined;

function exit(): void {
  void (stop?.() ?? Promise.resolve()).finally(() => process.exit(0));
}

process.on('disconnect', exit);
process.on('message', (command: InjectorServerCommand) => {
  if (command.type === 'stop') return exit();
  if (command.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', userUs: user, systemUs: system });
    return;
  }
  void start(command).catch((error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }));
});

async function start(command: Extract<InjectorServerCommand, { type: 'start' }>): Promise<void> {
  if (command.kind === 'injector') {
    const service = createInjectorService(envToConfig(command.env), { logger: silentLogger() });
    await service.start();
    stop = () => service[Symbol.asyncDispose]();
    send({ type: 'ready', port: Number(new URL(service.webhookUrl).port) });
    return;
  }
  // The same work a webhook cannot avoid: read the whole body, answer JSON of the same size.
  const body = Buffer.from(command.response);
  const server = createServer({ cert: readFileSync(command.certFile), key: readFileSync(command.keyFile) }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}
