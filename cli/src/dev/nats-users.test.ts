import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planDevProcesses } from './plan.js';
import { loadOrCreateNatsUsers, natsUsersPath } from './nats-users.js';

describe('dev NATS users', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-nats-users-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are created once with random passwords, readable by the owner only, and kept', async () => {
    const first = await loadOrCreateNatsUsers(dir);
    expect(Object.keys(first).sort()).toEqual(['destination', 'gateway', 'identity', 'injector', 'multicluster', 'policy', 'reader', 'tap', 'workload']);
    expect(new Set(Object.values(first).map((u) => u.password)).size).toBe(9);
    expect(first.reader.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await stat(natsUsersPath(dir))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateNatsUsers(dir)).toEqual(first);
  });

  it('refuses a file without every role', async () => {
    await writeFile(natsUsersPath(dir), JSON.stringify({ reader: { user: 'r', password: 'p' } }));
    await expect(loadOrCreateNatsUsers(dir)).rejects.toThrow(/no user and password for the destination role/);
    expect(await readFile(natsUsersPath(dir), 'utf8')).toContain('"r"');
  });

  it('get a login for a role added since the file was written, kept from then on', async () => {
    const before = await loadOrCreateNatsUsers(dir);
    const { policy: _dropped, ...older } = before;
    await writeFile(natsUsersPath(dir), JSON.stringify(older));
    const after = await loadOrCreateNatsUsers(dir);
    expect(after.policy.user).toBe('policy');
    expect(after.policy.password).not.toBe(before.policy.password);
    expect(after.destination).toEqual(before.destination);
    expect(JSON.parse(await readFile(natsUsersPath(dir), 'utf8'))).toEqual(after);
    expect((await stat(natsUsersPath(dir))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateNatsUsers(dir)).toEqual(after);
  });

  it('are given to each service process, and the gateway then leaves stream creation to the others', async () => {
    const users = await loadOrCreateNatsUsers(dir);
    const specs = planDevProcesses({
      services: ['destination', 'policy', 'gateway', 'identity'],
      replicas: 1,
      servicesDir: '/s',
      natsUrl: 'nats://127.0.0.1:4999',
      logLevel: 'info',
      manifestsDir: '/m',
      identityDir: '/i',
      adminPorts: [1, 2, 3, 4],
      gatewayPorts: [8086],
      natsUsers: users,
    });
    for (const s of specs) {
      expect(s.env.NATS_USER).toBe(s.service);
      expect(s.env.NATS_PASSWORD).toBe(users[s.service].password);
    }
    expect(specs.map((s) => s.env.MESHBUS_ENSURE_STREAMS)).toEqual([undefined, undefined, 'false', undefined]);
  });
});
