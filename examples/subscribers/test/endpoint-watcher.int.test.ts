import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@meshbus/bus-schemas';
import { sampleEndpointSet, waitFor } from '@meshbus/testing';
import { exampleImports, publishInvalid, runExample, startTestBus, type TestBus } from './bus.js';

const set = (addresses: string[]) => ({ namespace: 'shop', service: 'web', port: 80, endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000 })) });

describe('the TypeScript example subscriber (endpoint watcher)', () => {
  let bus: TestBus;
  beforeAll(async () => {
    bus = await startTestBus();
  });
  afterAll(async () => {
    await bus?.close();
  });

  it('imports no meshbus code: a stock NATS client, ajv and Node only', () => {
    const imports = exampleImports();
    expect(imports).toContain('nats');
    const packages = new Set(imports.filter((i) => !i.startsWith('.') && !i.startsWith('node:')));
    expect([...packages].sort()).toEqual(['ajv-formats', 'ajv/dist/2020.js', 'nats', 'pg']);
  });

  it('prints the current endpoints, then each change, validating every message against its schema', async () => {
    await bus.publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', set(['10.0.0.1', '10.0.0.2']));
    await bus.publisher.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: 'd-1', term: 1 });
    const watcher = runExample('endpoint-watcher', { NATS_URL: bus.nats.url, NATS_USER: bus.reader.user, NATS_PASSWORD: bus.reader.password });
    await waitFor(() => watcher.output().includes('caught up'), { what: 'the watcher to read the current endpoints', timeoutMs: 15_000 });
    expect(watcher.output()).toContain('shop/web/80  2 endpoints: 10.0.0.1:8080 10.0.0.2:8080\n');

    await bus.publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', set(['10.0.0.2', 'fd00::3']));
    await waitFor(() => watcher.output().includes('shop/web/80  +[fd00::3]:8080 -10.0.0.1:8080 (2 endpoints)'), { what: 'the change' });

    await publishInvalid(bus.nc, subjects.endpoints('shop', 'web', 81), 'io.meshbus.v1.endpoints.snapshot', 'endpoint-set', { ...set(['not-an-ip']), port: 81 });
    await waitFor(() => watcher.output().includes('skipped meshbus.v1.state.endpoints.shop.web.81'), { what: 'the invalid message to be skipped' });
    expect(watcher.output()).toMatch(/skipped meshbus\.v1\.state\.endpoints\.shop\.web\.81 \(seq \d+\): io\.meshbus\.v1\.endpoints\.snapshot does not match https:\/\/meshbus\.io\/schemas\/v1\/endpoint-set\.schema\.json: \/endpoints\/0\/address must match format "ipv4"/);

    // 25,000 endpoints travel gzip-compressed.
    await bus.publisher.publish('endpointSet', subjects.endpoints('shop', 'big', 80), 'shop/big/80', sampleEndpointSet(25_000, 'big'));
    await waitFor(() => watcher.output().includes('shop/big/80  25000 endpoints: 10.0.0.0:8080 10.0.0.1:8080 10.0.0.2:8080 10.0.0.3:8080 10.0.0.4:8080 +24995 more\n'), { what: 'the compressed set', timeoutMs: 15_000 }).catch((e: Error) => {
      throw new Error(`${e.message}; output: ${watcher.output().slice(-2000)}`);
    });

    await bus.publisher.publish('endpointSetDeleted', subjects.endpoints('shop', 'web', 80), 'shop/web/80', { reason: 'service removed' });
    await waitFor(() => watcher.output().includes('shop/web/80  removed: service removed'), { what: 'the tombstone' });
    expect(watcher.output()).not.toContain('leader');

    expect(await watcher.stop()).toEqual({ code: 0, signal: null });
  });

  it('names a bad setting and exits 2', async () => {
    const watcher = runExample('endpoint-watcher', { NATS_URL: 'http://nowhere' });
    expect((await watcher.exited).code).toBe(2);
    expect(watcher.output()).toContain('endpoint-watcher: NATS_URL: "http://nowhere" is not a NATS URL such as nats://127.0.0.1:4222');
  });
});
