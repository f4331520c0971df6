import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { JetStreamPublisher } from '@meshbus/bus';
import { busValidator, streams, subjects, type EndpointSet, type FailoverChanged, type MirroredService, type OutboundPolicy } from '@meshbus/bus-schemas';
import { createLogger } from '@meshbus/runtime';
import { freePort, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicyService } from './composition-root.js';
import { envToConfig } from './config.js';
import type { PolicyService } from './policy-service.js';

// The policy service with the real index, fed on the bus as the multicluster leader
// (mirrored services) and the destination (endpoint sets) feed it.

const manifests = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
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
        - { name: web-east, port: 80, weight: 50 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web-east-timeouts, namespace: shop }
spec:
  parentRefs: [{ group: core, kind: Service, name: web-east, port: 80 }]
  rules:
    - timeouts: { request: 3s }
      backendRefs: [{ name: web-east, port: 80 }]
`;

const mirror = (ready: boolean): MirroredService => ({
  namespace: 'shop',
  service: 'web-east',
  cluster: 'east',
  remoteService: 'web',
  ports: [{ port: 80, name: 'http', ready: ready ? 2 : 0 }],
  gateway: { identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }] },
  identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'],
  ready,
});

const webEndpoints = (addresses: string[]): EndpointSet => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  portName: 'http',
  opaque: false,
  labels: { namespace: 'shop', service: 'web' },
  endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000, labels: {}, protocolHint: 'unknown' })),
});

async function lastData<T>(nc: NatsConnection, subject: string): Promise<T | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    return m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as T);
  } catch {
    return undefined;
  }
}

describe('policy service: mirrored services as backends, and failover', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let dir: string;
  let service: PolicyService;
  let own: NatsConnection;
  let multicluster: JetStreamPublisher;
  let destination: JetStreamPublisher;
  const events: FailoverChanged[] = [];

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-policy-mirrors-'));
    await writeFile(path.join(dir, 'shop.yaml'), manifests);
    own = await connect({ servers: nats.url });
    const config = envToConfig({
      NATS_URL: nats.url,
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      MESHBUS_REPLICA_ID: 'policy-a',
      MESHBUS_LEASE_DURATION: '1s',
      MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms',
    });
    const logger = createLogger({ service: 'policy', level: 'warn', destination: { write: () => undefined } });
    service = createPolicyService(config, { logger, nc: own });
    await service.start();
    nc.subscribe(subjects.policyFailoverChanged('shop', 'web-split'), { callback: (_e, m) => void events.push(JSON.parse(new TextDecoder().decode(m.data)) as FailoverChanged) });
    multicluster = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/multicluster/test' });
    destination = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/destination/test' });
  }, 30_000);

  afterAll(async () => {
    await service?.[Symbol.asyncDispose]();
    await own?.close().catch(() => undefined);
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const webPolicy = () => lastData<OutboundPolicy>(nc, subjects.outboundPolicy('shop', 'web', 80));
  const split = async () => {
    const backends = (await webPolicy())?.routes.httpRoutes[0]?.rules[0]?.backends ?? [];
    return backends.map((b) => `${b.metadata.name}=${b.weight}${b.invalid === undefined ? '' : ' invalid'}`).join(', ');
  };
  const waitForSplit = async (expected: string, what: string) => {
    const started = Date.now();
    await waitFor(async () => (await split()) === expected, { timeoutMs: 20_000, what: `${what}: ${expected} (last: ${await split()})` });
    console.log(`${what}: ${expected} after ${Date.now() - started}ms`);
  };

  it('refuses the mirror as a backend until it exists, then splits, fails over and comes back', async () => {
    // No mirror yet: the backend does not exist, the route says so, and web-east has no outbound policy.
    await waitForSplit('web=50, web-east=50 invalid', 'before the mirror');
    const invalid = (await webPolicy())!.routes.httpRoutes[0]!.rules[0]!.backends[1]!.invalid;
    expect(invalid).toContain('web-east');
    expect(invalid).toContain('does not exist');
    expect(await lastData(nc, subjects.outboundPolicy('shop', 'web-east', 80))).toBeUndefined();

    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', webEndpoints(['10.0.0.1']));
    await multicluster.publish('mirroredService', subjects.mirroredService('shop', 'web-east'), 'shop/web-east', mirror(true));
    await waitForSplit('web=50, web-east=50', 'both ready');
    const backends = (await webPolicy())!.routes.httpRoutes[0]!.rules[0]!.backends;
    expect(backends.map((b) => b.service?.authority)).toEqual(['web.shop.svc.cluster.local:80', 'web-east.shop.svc.cluster.local:80']);

    // The mirror is a Service for routes too: its own outbound policy, with the route's timeouts.
    const east = await waitFor(() => lastData<OutboundPolicy>(nc, subjects.outboundPolicy('shop', 'web-east', 80)), { timeoutMs: 20_000, what: 'outbound policy of web-east:80' });
    expect(east.authority).toBe('web-east.shop.svc.cluster.local:80');
    expect(east.addresses).toEqual([]);
    expect(east.routes.httpRoutes[0]?.metadata).toMatchObject({ kind: 'HTTPRoute', name: 'web-east-timeouts' });
    expect(east.routes.httpRoutes[0]?.rules[0]?.timeouts).toEqual({ requestMs: 3000 });

    // web has no ready endpoint: all traffic to web-east; then back. (The two publishes above may
    // have given events of their own, as each landed: the checks look for the ones of this step.)
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', webEndpoints([]));
    await waitForSplit('web=0, web-east=50', 'web down');
    const weightsOf = (e: FailoverChanged) => e.backends.map((b) => `${b.name}=${b.weight}`).join(',');
    const failedOver = await waitFor(() => events.find((e) => e.failedOver && weightsOf(e) === 'web=0,web-east=50'), { timeoutMs: 20_000, what: 'policy.failover-changed (failed over)' });
    expect(failedOver).toMatchObject({ namespace: 'shop', kind: 'HTTPRoute', route: 'web-split', rule: 1, service: 'web', port: 80, primary: 'web' });
    expect(failedOver.backends.map((b) => `${b.name}=${b.weight}`)).toEqual(['web=0', 'web-east=50']);
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', webEndpoints(['10.0.0.1', '10.0.0.2']));
    await waitForSplit('web=50, web-east=50', 'web back');
    const back = await waitFor(() => events.slice(events.indexOf(failedOver) + 1).find((e) => !e.failedOver), { timeoutMs: 20_000, what: 'policy.failover-changed (back)' });
    expect(weightsOf(back)).toBe('web=50,web-east=50');

    // Down again, then the mirror is not ready either: nothing is ready, the declared weights apply.
    await destination.publish('endpointSetDeleted', subjects.endpoints('shop', 'web', 80), 'shop/web/80', { reason: 'service removed' });
    await waitForSplit('web=0, web-east=50', 'web endpoint set removed');
    await multicluster.publish('mirroredService', subjects.mirroredService('shop', 'web-east'), 'shop/web-east', mirror(false));
    await waitForSplit('web=50, web-east=50', 'both down');
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', webEndpoints(['10.0.0.1']));

    // The mirror goes away: the backend does not exist again.
    await multicluster.publish('mirroredServiceDeleted', subjects.mirroredService('shop', 'web-east'), 'shop/web-east', { reason: 'the export was withdrawn' });
    await waitForSplit('web=50, web-east=0 invalid', 'mirror removed');
    const removed = await waitFor(async () => (await lastData<{ reason?: string }>(nc, subjects.outboundPolicy('shop', 'web-east', 80)))?.reason, { timeoutMs: 20_000, what: 'web-east:80 policy removed' });
    console.log(`web-east:80 removed: ${removed}`);
  }, 120_000);
});
