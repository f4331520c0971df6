import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, natsServerBinary, startProcess, waitFor, type RunningProcess } from '@meshbus/testing';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsAuthKey, natsConfigMapName, natsUsersSecretName } from './layout.js';
import { chooseMaterial } from './plan.js';
import { renderInstallation } from './render.js';

// The rendered nats.conf and users Secret, as the StatefulSet's pods get them, read by a real
// nats-server: the configuration is valid and every component's login works with its password.
describe('the bundled NATS configuration', () => {
  const material = chooseMaterial({ values: {}, version: '0.1.0', now: new Date() });
  const objects = renderInstallation({ values: {}, material, version: '0.1.0' }) as unknown as { kind: string; metadata: { name: string }; data: Record<string, string> }[];
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === natsConfigMapName)!.data['nats.conf']!;
  const users = objects.find((o) => o.kind === 'Secret' && o.metadata.name === natsUsersSecretName)!.data;
  let dir: string;
  let server: RunningProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbus-nats-conf-'));
    mkdirSync(join(dir, 'auth'));
    // The pod's volume paths are taken from the configuration as it is; its ports are moved with flags.
    expect(config).toContain('store_dir: /data/jetstream');
    expect(config).toContain('pid_file: /var/run/nats/nats.pid');
    writeFileSync(join(dir, 'nats.conf'), config.replace('/data/jetstream', join(dir, 'data')).replace('/var/run/nats/nats.pid', join(dir, 'nats.pid')));
    writeFileSync(join(dir, 'auth', natsAuthKey), Buffer.from(users[natsAuthKey]!, 'base64'));
    port = await freePort();
    const monitor = await freePort();
    const cluster = await freePort();
    server = startProcess({
      command: natsServerBinary(),
      args: ['-c', join(dir, 'nats.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '--cluster', `nats://127.0.0.1:${cluster}`],
      env: { ...process.env, POD_NAME: 'meshbus-nats-0' },
      cwd: dir,
    });
    await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${monitor}/varz`).catch(() => undefined);
      return res?.ok === true;
    }, { timeoutMs: 10_000, what: 'nats-server to start with the rendered configuration' });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a valid nats-server configuration', async () => {
    const test = spawnSync(natsServerBinary(), ['-c', join(dir, 'nats.conf'), '-t'], { cwd: dir, env: { ...process.env, POD_NAME: 'meshbus-nats-0' }, encoding: 'utf8' });
    expect(test.status, test.stderr).toBe(0);
    expect(test.stdout + test.stderr).toContain('is valid');
    // JetStream and the cluster listener come up; the routes to the other pods' names only resolve in the cluster.
    // The monitor answers before the JetStream cluster has logged its start: wait for the line rather than read the log once.
    await waitFor(() => server.output().includes('Cluster name is meshbus'), { timeoutMs: 10_000, what: 'the JetStream cluster of the rendered configuration to start' });
    expect(server.output()).toContain('Starting JetStream');
    expect(server.output()).toContain('meshbus-nats-0');
  });

  it.each(['destination', 'identity', 'policy', 'gateway'])('lets the %s component in with its password, and nobody with a wrong one', async (role) => {
    const password = Buffer.from(users[role]!, 'base64').toString();
    const nc = await connect({ servers: `127.0.0.1:${port}`, user: role, pass: password, reconnect: false });
    await nc.flush();
    await nc.close();
    await expect(connect({ servers: `127.0.0.1:${port}`, user: role, pass: `${password}x`, reconnect: false })).rejects.toThrow(/Authorization/i);
  });
});
