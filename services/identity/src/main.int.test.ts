import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster } from '@meshbus/testing';
import { certifyRequest, identityOf, makeCsr, makeTokenKeys, makeTrustMaterial, refusalOf, requestCertificate, workloadToken } from './test-fixtures.js';
import { writeTrustMaterial } from '@meshbus/trust';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const mainJs = join(packageDir, 'dist', 'main.js');

describe('the built identity service as a process', () => {
  let nats: NatsCluster;
  let dir: string;
  const keys = makeTokenKeys();

  beforeAll(async () => {
    // Incremental: quick when dist/ is current.
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '--build', 'services/identity'], { cwd: repoRoot, stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      throw new Error(`tsc --build services/identity failed:\n${(error as { stdout?: string }).stdout ?? ''}`);
    }
    nats = await startNats();
    dir = await mkdtemp(join(tmpdir(), 'meshbus-identity-main-'));
    await writeTrustMaterial(dir, makeTrustMaterial());
    await writeFile(join(dir, 'token.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
  }, 120_000);

  afterAll(async () => {
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves /live, /ready and /metrics, answers requests, logs JSON, and exits 0 on SIGTERM', async () => {
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    await using proc = startProcess({
      command: process.execPath,
      args: [mainJs],
      env: {
        PATH: process.env.PATH,
        NATS_URL: nats.url,
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        MESHBUS_REPLICA_ID: 'proc-0',
        MESHBUS_IDENTITY_DIR: dir,
        MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
      },
    });
    await waitFor(async () => (await httpGet(`${admin}/ready`)).status === 200, { timeoutMs: 20_000, what: `/ready (output: ${proc.output()})` });
    expect(await httpGet(`${admin}/live`)).toEqual({ status: 200, body: 'live\n' });
    const metrics = await httpGet(`${admin}/metrics`);
    expect(metrics.body).toMatch(/meshbus_identity_issuer_expiry_seconds\{service="identity"\} \d+/);
    expect(metrics.body).toContain('meshbus_process_cpu_seconds_total');

    const token = workloadToken(keys.privateKey, 'web', 'shop');
    const web = identityOf('web', 'shop');
    const nc = await connect({ servers: nats.url });
    try {
      const { response, event } = await requestCertificate(nc, certifyRequest(web, token, makeCsr(web).csrDer));
      expect(refusalOf(response)).toBeUndefined();
      expect(event.source).toBe('/meshbus/identity/proc-0');
    } finally {
      await nc.close();
    }
    await waitFor(async () => /meshbus_identity_certificates_issued_total\{result="ok",service="identity"\} 1/.test((await httpGet(`${admin}/metrics`)).body));

    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const lines = proc.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) expect(line).toMatchObject({ service: 'identity', level: expect.any(String) });
    expect(lines.some((l) => l.component === 'certify' && l.msg === 'certificate issued' && l.identity === web)).toBe(true);
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
    expect(proc.output()).not.toContain(token);
    expect(proc.output()).not.toContain('PRIVATE KEY');
  });

  it('changes its log level while running when an operator asks its admin server', async () => {
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    await using proc = startProcess({
      command: process.execPath,
      args: [mainJs],
      env: {
        PATH: process.env.PATH,
        NATS_URL: nats.url,
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        MESHBUS_REPLICA_ID: 'proc-1',
        MESHBUS_IDENTITY_DIR: dir,
        MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
      },
    });
    await waitFor(async () => (await httpGet(`${admin}/ready`)).status === 200, { timeoutMs: 20_000, what: `/ready (output: ${proc.output()})` });
    const put = async (body: string) => {
      const r = await fetch(`${admin}/log-level`, { method: 'PUT', body });
      return { status: r.status, body: await r.text() };
    };
    expect(await httpGet(`${admin}/log-level`)).toEqual({ status: 200, body: 'info\n' });
    expect(await put('chatty')).toEqual({ status: 400, body: 'unknown log level "chatty": send one of fatal, error, warn, info, debug, trace, silent\n' });
    expect(await put(' Warn\n')).toEqual({ status: 200, body: 'warn\n' });
    expect(await httpGet(`${admin}/log-level`)).toEqual({ status: 200, body: 'warn\n' });

    // At warn, issuing a certificate (an info record of the certify component) writes nothing.
    const web = identityOf('web', 'shop');
    const nc = await connect({ servers: nats.url });
    try {
      const { response } = await requestCertificate(nc, certifyRequest(web, workloadToken(keys.privateKey, 'web', 'shop'), makeCsr(web).csrDer));
      expect(refusalOf(response)).toBeUndefined();
    } finally {
      await nc.close();
    }
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const lines = proc.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'log level changed')).toMatchObject({ from: 'info', to: 'warn', replica: 'proc-1', component: 'admin' });
    const changedAt = lines.findIndex((l) => l.msg === 'log level changed');
    expect(lines.slice(changedAt + 1).filter((l) => l.level === 'info' || l.level === 'debug')).toEqual([]);
    expect(lines.slice(0, changedAt).some((l) => l.level === 'info')).toBe(true);
  });

  it('exits 2 with the variable named when the configuration is invalid', async () => {
    await using proc = startProcess({
      command: process.execPath,
      args: [mainJs],
      env: { PATH: process.env.PATH, MESHBUS_IDENTITY_MODE: 'cloud' },
    });
    expect(await proc.exited).toEqual({ code: 2, signal: null });
    expect(proc.output()).toContain('MESHBUS_IDENTITY_MODE must be local or kubernetes');
  });
});
