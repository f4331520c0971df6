import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDevState, readDevState, resolveGateways, resolveNatsLogin, resolveNatsUrl, type DevState } from './dev-state.js';
import { natsServers } from './nats-probe.js';

const state: DevState = { natsUrl: 'nats://127.0.0.1:41000', gateways: ['127.0.0.1:8086', '127.0.0.1:8087'], admin: { 'gateway-1': 'http://127.0.0.1:41001' } };

describe('dev state', () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-'));
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('is read from .meshbus/dev.json of the current folder', async () => {
    expect(await readDevState(cwd)).toBeUndefined();
    await mkdir(join(cwd, '.meshbus'));
    await writeFile(join(cwd, '.meshbus', 'dev.json'), JSON.stringify({ ...state, pid: process.pid }));
    expect(await readDevState(cwd)).toEqual({ ...state, pid: process.pid });
  });

  it('ignores a file left behind by a dev run that is gone', async () => {
    await mkdir(join(cwd, '.meshbus'));
    await writeFile(join(cwd, '.meshbus', 'dev.json'), JSON.stringify({ ...state, pid: 2 ** 22 + 12345 }));
    expect(await readDevState(cwd)).toBeUndefined();
  });

  it('refuses content that is not a state file', () => {
    expect(() => parseDevState('{', 'x/dev.json')).toThrow(/x\/dev.json is not JSON/);
    expect(() => parseDevState('{"natsUrl":1}')).toThrow(/not a meshbus dev state file/);
    expect(() => parseDevState(JSON.stringify({ ...state, gateways: [1] }))).toThrow(/not a meshbus dev state file/);
  });

  it('resolves NATS from the flag, then NATS_URL, then dev, then the default', () => {
    expect(resolveNatsUrl('nats://flag:1', { NATS_URL: 'nats://env:1' }, state)).toBe('nats://flag:1');
    expect(resolveNatsUrl(undefined, { NATS_URL: 'nats://env:1' }, state)).toBe('nats://env:1');
    expect(resolveNatsUrl(undefined, { NATS_URL: '' }, state)).toBe('nats://127.0.0.1:41000');
    expect(resolveNatsUrl(undefined, {}, undefined)).toBe('nats://127.0.0.1:4222');
  });

  it('logs in with the flags, then NATS_USER/NATS_PASSWORD, then the dev user of the role on the dev NATS only', () => {
    const dev: DevState = { ...state, natsUsers: { reader: { user: 'reader', password: 'r' }, workload: { user: 'workload', password: 'w' } } };
    expect(parseDevState(JSON.stringify(dev))).toEqual(dev);
    expect(() => parseDevState(JSON.stringify({ ...state, natsUsers: { reader: { user: 'reader' } } }))).toThrow(/not a meshbus dev state file/);
    expect(resolveNatsLogin({ natsUser: 'me', natsPassword: 'pw' }, { NATS_USER: 'env' }, dev, dev.natsUrl, 'reader')).toEqual({ user: 'me', password: 'pw' });
    expect(resolveNatsLogin({}, { NATS_USER: 'env', NATS_PASSWORD: 'e' }, dev, dev.natsUrl, 'reader')).toEqual({ user: 'env', password: 'e' });
    expect(resolveNatsLogin({}, {}, dev, dev.natsUrl, 'reader')).toEqual({ user: 'reader', password: 'r' });
    expect(resolveNatsLogin({}, {}, dev, dev.natsUrl, 'workload')).toEqual({ user: 'workload', password: 'w' });
    expect(resolveNatsLogin({}, {}, dev, 'nats://10.0.0.5:4222', 'reader')).toEqual({});
    expect(resolveNatsLogin({}, {}, state, state.natsUrl, 'reader')).toEqual({});
  });

  it('resolves gateways from the flag, then dev, then the default', () => {
    expect(resolveGateways('10.0.0.1:8086', state)).toEqual(['10.0.0.1:8086']);
    expect(resolveGateways(undefined, state)).toEqual(['127.0.0.1:8086', '127.0.0.1:8087']);
    expect(resolveGateways(undefined, undefined)).toEqual(['127.0.0.1:8086']);
  });
});

describe('natsServers', () => {
  it('splits URL lists with or without scheme and port', () => {
    expect(natsServers('nats://127.0.0.1:4222, nats://[::1]:4223,localhost')).toEqual([
      { host: '127.0.0.1', port: 4222 },
      { host: '::1', port: 4223 },
      { host: 'localhost', port: 4222 },
    ]);
  });
});
