import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerBinary } from '@meshbus/testing';
import { cliMain } from '../cli-process.js';
import { repoRoot } from '../paths.js';
import { parseNatsUsers } from './nats-users.js';

const run = promisify(execFile);
const composeDir = join(repoRoot, 'compose-dev');
const passwords = {
  NATS_PASSWORD_DESTINATION: 'd-secret',
  NATS_PASSWORD_POLICY: 'p-secret',
  NATS_PASSWORD_GATEWAY: 'g-secret',
  NATS_PASSWORD_IDENTITY: 'i-secret',
  NATS_PASSWORD_INJECTOR: 'j-secret',
  NATS_PASSWORD_WORKLOAD: 'w-secret',
  NATS_PASSWORD_READER: 'r-secret',
  NATS_PASSWORD_TAP: 't-secret',
  NATS_PASSWORD_MULTICLUSTER: 'm-secret',
};

/** nats-server's verdict on a configuration file (`-t`: parse it, includes and all, then exit). */
async function natsConfigTest(config: string, env: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(natsServerBinary(), ['-c', config, '-t'], { env: { ...process.env, ...env } });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

// The init service of compose-dev/compose.yaml, run as a script outside a container.
describe('compose-dev/init.sh', () => {
  let root: string;
  let firstRun: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'meshbus-compose-init-'));
    const { stdout } = await run('sh', [join(composeDir, 'init.sh')], { env: { ...process.env, ...passwords, MESHBUS_INIT_ROOT: root, MESHBUS_CLI: cliMain } });
    firstRun = stdout;
  }, 60_000);
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('creates the trust anchor, an issuer that chains to it, and the token key', async () => {
    expect((await readdir(join(root, 'identity'))).sort()).toEqual(['ca.crt', 'ca.key', 'issuer.crt', 'issuer.key', 'token.key', 'token.pub']);
    const { stdout } = await run('openssl', ['verify', '-CAfile', join(root, 'identity', 'ca.crt'), join(root, 'identity', 'issuer.crt')]);
    expect(stdout).toContain(': OK');
    expect(firstRun).toContain('init: done');
  });

  it('writes a workload token per demo service account and the anchors the proxies trust', async () => {
    expect((await readdir(join(root, 'workload'))).sort()).toEqual(['api.token', 'ca.crt', 'store.token', 'web.token']);
    expect(await readFile(join(root, 'workload', 'ca.crt'), 'utf8')).toBe(await readFile(join(root, 'identity', 'ca.crt'), 'utf8'));
    for (const sa of ['web', 'api', 'store']) {
      const token = (await readFile(join(root, 'workload', `${sa}.token`), 'utf8')).trim();
      const [, payload] = token.split('.');
      expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ sub: `system:serviceaccount:demo:${sa}` });
    }
  });

  it('writes the NATS users from the environment, and an authorization block that nats.conf includes and nats-server accepts', async () => {
    const users = parseNatsUsers(await readFile(join(root, 'nats-auth', 'users.json'), 'utf8'));
    expect(users.gateway).toEqual({ user: 'gateway', password: 'g-secret' });
    expect(users.reader).toEqual({ user: 'reader', password: 'r-secret' });
    expect(users.tap).toEqual({ user: 'tap', password: 't-secret' });
    expect(users.multicluster).toEqual({ user: 'multicluster', password: 'm-secret' });
    const auth = await readFile(join(root, 'nats-auth', 'auth.conf'), 'utf8');
    expect(auth).toContain('password: "d-secret"');

    // The layout of the nats containers: nats.conf beside generated/ (the nats-auth volume).
    const etc = join(root, 'etc-nats');
    await mkdir(join(etc, 'generated'), { recursive: true });
    await copyFile(join(composeDir, 'nats', 'nats.conf'), join(etc, 'nats.conf'));
    const withoutAuth = await natsConfigTest(join(etc, 'nats.conf'), { NATS_SERVER_NAME: 'nats-1' });
    expect(withoutAuth.ok, withoutAuth.output).toBe(false);
    expect(withoutAuth.output).toContain('auth.conf');
    await copyFile(join(root, 'nats-auth', 'auth.conf'), join(etc, 'generated', 'auth.conf'));
    const checked = await natsConfigTest(join(etc, 'nats.conf'), { NATS_SERVER_NAME: 'nats-1' });
    expect(checked.ok, checked.output).toBe(true);
    // Each node's name comes from its environment (compose.yaml sets NATS_SERVER_NAME).
    const { NATS_SERVER_NAME: _unset, ...withoutName } = process.env;
    const unnamed = await run(natsServerBinary(), ['-c', join(etc, 'nats.conf'), '-t'], { env: withoutName }).then(
      () => ({ ok: true, output: '' }),
      (error: { stderr?: string; stdout?: string }) => ({ ok: false, output: (error.stdout ?? '') + (error.stderr ?? '') }),
    );
    expect(unnamed.ok, unnamed.output).toBe(false);
    expect(unnamed.output).toContain('NATS_SERVER_NAME');
  });

  it('keeps the trust material when it runs again', async () => {
    const before = await readFile(join(root, 'identity', 'issuer.crt'), 'utf8');
    const { stdout } = await run('sh', [join(composeDir, 'init.sh')], { env: { ...process.env, ...passwords, MESHBUS_INIT_ROOT: root, MESHBUS_CLI: cliMain } });
    expect(stdout).toContain('keeping the trust material');
    expect(await readFile(join(root, 'identity', 'issuer.crt'), 'utf8')).toBe(before);
  }, 60_000);
});
