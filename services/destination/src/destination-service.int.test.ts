import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { streams, subjects } from '@meshbus/bus-schemas';
import { createLogger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envToConfig } from './config.js';
import { createDestinationService } from './composition-root.js';
import type { DestinationService } from './destination-service.js';

const service = (name: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { app: ${name} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
const workload = (app: string, name: string, address: string) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: ${name}, namespace: shop, labels: { app: ${app} } }
spec: { address: ${address}, ports: [{ port: 8080 }] }
`;
const bigWorkloads = (count: number) => Array.from({ length: count }, (_, i) => workload('big', `big-${i}`, `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`)).join('');

/** The data of the last message stored on a subject, or undefined. */
async function lastData(nc: NatsConnection, stream: string, subject: string): Promise<Record<string, unknown> | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** A sample of `name` whose labels include `label` (e.g. `kind="endpointSet"`). */
function metric(text: string, name: string, label = ''): number | undefined {
  const line = text.split('\n').find((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('destination: a key the bus keeps refusing', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let dir: string;
  let dst: DestinationService;
  const logLines: Record<string, unknown>[] = [];
  const big = subjects.endpoints('shop', 'big', 80);
  const small = (name: string) => subjects.endpoints('shop', name, 80);

  beforeAll(async () => {
    // A small max_payload stands in for any value the server refuses: a service whose endpoint set is
    // too big even compressed (1,200 endpoints are well over 8 KiB of gzip).
    nats = await startNats({ extraConfig: 'max_payload: 8192' });
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-refused-'));
    await writeFile(path.join(dir, 'big.yaml'), service('big') + bigWorkloads(1200));
    for (const name of ['a', 'b', 'c']) await writeFile(path.join(dir, `${name}.yaml`), service(name) + workload(name, `${name}-1`, '10.0.0.1'));
    dst = createDestinationService(
      envToConfig({ NATS_URL: nats.url, MESHBUS_MANIFESTS_DIR: dir, MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`, MESHBUS_LEASE_DURATION: '1s' }),
      { logger: createLogger({ service: 'destination', level: 'warn', destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) } }) },
    );
    await dst.start();
  });

  afterAll(async () => {
    await dst?.[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('retries that key with backoff, names it in /ready, metrics and publish.failed, and keeps publishing every other key promptly', async () => {
    for (const name of ['a', 'b', 'c']) {
      await waitFor(() => lastData(nc, streams.state.name, small(name)), { what: `endpoints of ${name}`, timeoutMs: 15_000 });
    }
    const event = await waitFor(() => lastData(nc, streams.events.name, subjects.publishFailed), { what: 'publish.failed', timeoutMs: 15_000 });
    expect(event).toMatchObject({ subject: big, kind: 'endpointSet', attempts: 1 });
    expect(String(event.reason)).toMatch(/payload/i);
    expect(await lastData(nc, streams.state.name, big)).toBeUndefined();

    const failures = await waitFor(
      async () => {
        const text = (await httpGet(`${dst.adminUrl}/metrics`)).body;
        const n = metric(text, 'meshbus_destination_publish_failures_total', 'kind="endpointSet"');
        return n !== undefined && n >= 3 && text;
      },
      { what: 'three failed attempts', timeoutMs: 15_000 },
    );
    expect(metric(failures, 'meshbus_destination_publish_failing_keys')).toBe(1);
    expect(logLines.filter((l) => l.subject === big && l.level === 'warn').length).toBeGreaterThanOrEqual(3);
    const ready = await httpGet(`${dst.adminUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toContain(`publishing ${big} failing`);

    // Other keys keep flowing while the big one keeps failing.
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      const address = `10.0.0.${10 + i}`;
      await writeFile(path.join(dir, `${name}.yaml`), service(name) + workload(name, `${name}-1`, address));
      await waitFor(
        async () => {
          const set = await lastData(nc, streams.state.name, small(name));
          return (set?.endpoints as { address: string }[] | undefined)?.[0]?.address === address;
        },
        { what: `${name} moved to ${address}`, timeoutMs: 5000 },
      );
    }
    expect(await lastData(nc, streams.state.name, big)).toBeUndefined();

    // A value the bus accepts is tried at once, without waiting out the backoff, and clears the failure.
    await writeFile(path.join(dir, 'big.yaml'), service('big') + bigWorkloads(20));
    await waitFor(async () => ((await lastData(nc, streams.state.name, big))?.endpoints as unknown[] | undefined)?.length === 20, {
      what: 'the big service, now small enough',
      timeoutMs: 5000,
    });
    await waitFor(async () => metric((await httpGet(`${dst.adminUrl}/metrics`)).body, 'meshbus_destination_publish_failing_keys') === 0, { what: 'no failing keys' });
    expect((await httpGet(`${dst.adminUrl}/ready`)).body).toBe('ready\n');
  });
});
