import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '@meshbus/testing';
import { runCli } from './cli-process.js';

const echoService = `apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: shop
spec:
  selector:
    app: echo
  ports:
    - name: http
      port: 80
      targetPort: http
`;

/** A workload: serves on its address, then calls echo.shop through HTTP_PROXY until it gets an answer. */
const echoProgram = `import http from 'node:http';
const [host, port] = [process.argv[2], Number(process.argv[3])];
const server = http.createServer((req, res) => res.end('hello from ' + host + ' to ' + (req.headers['l5d-client-id'] ?? 'nobody')));
await new Promise((r) => server.listen(port, host, r));
const proxy = new URL(process.env.HTTP_PROXY);
for (let attempt = 0; ; attempt++) {
  const answer = await new Promise((resolve) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, path: 'http://echo.shop/', headers: { host: 'echo.shop' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end();
  });
  if (answer.status === 200 || attempt >= 80) {
    console.log('status ' + answer.status + ': ' + answer.body);
    server.close();
    process.exit(answer.status === 200 ? 0 : 1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
`;

async function waitForOutput(process: RunningProcess, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!process.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in:\n${process.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('meshbus run against meshbus dev', () => {
  let cwd: string;
  let dev: RunningProcess;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-run-'));
    const manifests = join(cwd, 'manifests');
    await mkdir(manifests);
    await copyFile(fileURLToPath(new URL('../../examples/manifests/namespace.yaml', import.meta.url)), join(manifests, 'namespace.yaml'));
    await writeFile(join(manifests, 'echo.yaml'), echoService);
    await writeFile(join(cwd, 'echo.mjs'), echoProgram);
    dev = runCli(['dev', '--manifests', manifests, '--gateway-port', String(20_000 + Math.floor(Math.random() * 20_000)), '--log-level', 'warn'], { cwd });
    await waitForOutput(dev, 'Ctrl-C stops everything', 90_000);
  }, 120_000);
  afterAll(async () => {
    await dev?.stop(20_000);
    if (cwd) await rm(cwd, { recursive: true, force: true });
  }, 30_000);

  it('runs a program behind its own proxy: a call through HTTP_PROXY comes back over mesh TLS; it deregisters on exit', async () => {
    const run = runCli(['run', '--namespace', 'shop', '--name', 'echo-1', '--service-account', 'web', '--label', 'app=echo', '--port', 'http=8080', '--address', '127.0.0.51', '--', process.execPath, 'echo.mjs', '127.0.0.51', '8080'], { cwd });
    const { code } = await run.exited;
    expect(run.output()).toContain('status 200: hello from 127.0.0.51 to web.shop.serviceaccount.identity.');
    expect(code).toBe(0);
    // The proxy's token file is gone with it.
    expect(await readdir(join(cwd, '.meshbus', 'run'))).toEqual([]);

    const endpoints = runCli(['endpoints', 'echo.shop:80'], { cwd });
    expect((await endpoints.exited).code).toBe(0);
    expect(endpoints.output()).toContain('0 endpoints');
  }, 60_000);

  it("ends with the program's exit code", async () => {
    const run = runCli(['run', '--namespace', 'shop', '--name', 'exit-1', '--service-account', 'web', '--port', '8081', '--address', '127.0.0.52', '--', process.execPath, '-e', 'process.exit(7)'], { cwd });
    expect((await run.exited).code).toBe(7);
  }, 60_000);

  it('on SIGTERM stops the program and deregisters', async () => {
    const run = runCli(['run', '--namespace', 'shop', '--name', 'echo-2', '--service-account', 'web', '--label', 'app=echo', '--port', 'http=8082', '--address', '127.0.0.53', '--', process.execPath, '-e', 'setInterval(() => {}, 1000)'], { cwd });
    await waitForOutput(run, 'registered', 30_000);
    const { code } = await run.stop(20_000);
    expect(code).toBe(128 + 15);
    const endpoints = runCli(['endpoints', 'echo.shop:80'], { cwd });
    await endpoints.exited;
    expect(endpoints.output()).toContain('0 endpoints');
  }, 60_000);

  it.each([
    [['--namespace', 'shop', '--name', 'w', '--service-account', 'web', '--port', '80', '--address', '127.0.0.300', '--', 'true'], 'is not an IPv4 or IPv6 address'],
    [['--namespace', 'shop', '--name', 'w', '--service-account', 'web', '--port', '80', '--bogus', '--', 'true'], "unknown option '--bogus'"],
    [['--namespace', 'shop', '--name', 'w', '--port', '80', '--', 'true'], "required option '--service-account <name>' not specified"],
    [['--namespace', 'shop', '--name', 'w', '--service-account', 'web', '--port', '80'], "missing required argument 'command'"],
  ])('exits 2 for bad flags before anything starts: %j', async (args, message) => {
    const run = runCli(['run', ...args], { cwd });
    expect((await run.exited).code).toBe(2);
    expect(run.output()).toContain(message);
    expect(run.output()).not.toContain('registered');
  });
});
