import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, streams, subjects, type EndpointSet, type FailoverChanged, type OutboundPolicy } from '@meshbus/bus-schemas';
import { createLogger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicyService } from './composition-root.js';
import { envToConfig } from './config.js';
import type { PolicyService } from './policy-service.js';

// A failover that happens while the bus does not store events (the events stream is gone, as
// after an operator's mistake or while a NATS cluster recovers it): policy.failover-changed is
// retried with backoff until the stream is back, and the failures are logged and counted.

const manifests = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-backup, namespace: shop }
spec: { selector: { app: web-backup }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web-split
  namespace: shop
  annotations: { failover.meshbus.io/primary-service: web }
spec:
  parentRefs: [{ group: core, kind: Service, name: web, port: 80 }]
  rules:
    - backendRefs:
        - { name: web, port: 80, weight: 50 }
        - { name: web-backup, port: 80, weight: 50 }
`;

const endpoints = (service: string, addresses: string[]): EndpointSet => ({
  namespace: 'shop',
  service,
  port: 80,
  portName: 'http',
  opaque: false,
  labels: { namespace: 'shop', service },
  endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000, labels: {}, protocolHint: 'unknown' })),
});

async function lastData<T>(nc: NatsConnection, stream: string, subject: string): Promise<T | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as T);
  } catch {
    return undefined;
  }
}

describe('policy service: policy.failover-changed while the events stream is missing', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let own: NatsConnection;
  let dir: string;
  let service: PolicyService;
  let destination: JetStreamPublisher;
  const logs: { level: string; time: string; msg: string; route?: string; attempts?: number; err?: string }[] = [];

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    own = await connect({ servers: nats.url });
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-policy-failover-retry-'));
    await writeFile(path.join(dir, 'shop.yaml'), manifests);
    const config = envToConfig({
      NATS_URL: nats.url,
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      MESHBUS_REPLICA_ID: 'policy-a',
      MESHBUS_LEASE_DURATION: '1s',
      MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms',
    });
    const logger = createLogger({ service: 'policy', level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) } });
    service = createPolicyService(config, { logger, nc: own });
    await service.start();
    destination = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/destination/test' });
  }, 30_000);

  afterAll(async () => {
    await service?.[Symbol.asyncDispose]();
    await own?.close().catch(() => undefined);
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const split = async () => {
    const policy = await lastData<OutboundPolicy>(nc, streams.state.name, subjects.outboundPolicy('shop', 'web', 80));
    return (policy?.routes.httpRoutes[0]?.rules[0]?.backends ?? []).map((b) => `${b.metadata.name}=${b.weight}`).join(', ');
  };
  const failures = async () => {
    const metrics = await httpGet(`${service.adminUrl}/metrics`);
    return Number(/^meshbus_policy_publish_failures_total\{kind="policyFailoverChanged"[^}]*\} (\d+)/m.exec(metrics.body)?.[1] ?? 0);
  };

  it('retries the event with backoff until the stream is back, logging the route and counting the failures', async () => {
    const subject = subjects.policyFailoverChanged('shop', 'web-split');
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', endpoints('web', ['10.0.0.1']));
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web-backup', 80), 'shop/web-backup/80', endpoints('web-backup', ['10.0.0.2']));
    await waitFor(async () => (await split()) === 'web=50, web-backup=50', { timeoutMs: 20_000, what: 'the declared split' });

    // The events stream goes away; the state stream stays. web loses its endpoints: failover.
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(streams.events.name);
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', endpoints('web', []));
    await waitFor(async () => (await split()) === 'web=0, web-backup=50', { timeoutMs: 20_000, what: 'the failover in the outbound policy' });

    // Each attempt fails, is logged with the route named and counted; the attempts grow apart.
    const failed = () => logs.filter((l) => l.msg === 'could not publish policy.failover-changed; retrying with backoff');
    await waitFor(() => failed().length >= 3, { timeoutMs: 20_000, what: 'three failed attempts' });
    expect(failed()[0]).toMatchObject({ level: 'warn', route: 'shop/web-split', attempts: 1 });
    expect(failed().slice(0, 3).map((l) => l.attempts)).toEqual([1, 2, 3]);
    const at = failed().slice(0, 3).map((l) => Date.parse(l.time));
    expect(at[2]! - at[1]!).toBeGreaterThan(at[1]! - at[0]!);
    expect(await failures()).toBeGreaterThanOrEqual(3);
    expect((await httpGet(`${service.adminUrl}/ready`)).status).toBe(200);

    // The stream is back: the event is stored, once the backoff lets the next attempt through.
    await ensureStreams(jsm);
    const stored = await waitFor(() => lastData<FailoverChanged>(nc, streams.events.name, subject), { timeoutMs: 40_000, what: 'policy.failover-changed stored' });
    expect(stored).toMatchObject({ namespace: 'shop', route: 'web-split', rule: 1, primary: 'web', failedOver: true });
    expect(stored.backends.map((b) => `${b.name}=${b.weight}`)).toEqual(['web=0', 'web-backup=50']);
    await waitFor(() => logs.some((l) => l.msg === 'published policy.failover-changed after failed attempts' && l.route === 'shop/web-split'), { timeoutMs: 5000, what: 'the recovery logged' });
    const attemptsBefore = failed().length;

    // Back to the declared weights: announced at once, nothing failing any more.
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', endpoints('web', ['10.0.0.1']));
    await waitFor(async () => (await lastData<FailoverChanged>(nc, streams.events.name, subject))?.failedOver === false, { timeoutMs: 20_000, what: 'policy.failover-changed (back) stored' });
    expect(failed().length).toBe(attemptsBefore);
  }, 120_000);
});
