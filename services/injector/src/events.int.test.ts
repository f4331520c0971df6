import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busValidator, streams, subjects, type PodInjection } from '@meshbus/bus-schemas';
import { decodeEvent, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { natsInboxPrefix, silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, natsAuthorizationConfig, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createInjectorService } from './composition-root.js';
import type { InjectorService } from './injector-service.js';
import { makeWebhookTls, metricValue, podReview, postReview, type WebhookTls } from './test-fixtures.js';

const validator = busValidator();
const password = 'injector-pw-0123456789';
/** An operator login with every permission, to set up the streams and read what the injector wrote. */
const admin = { user: 'admin', pass: 'admin-pw-0123456789' };

let nats: NatsCluster;
let tls: WebhookTls;
let service: InjectorService;
let port: number;
let operator: NatsConnection;

const pod = (meta: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }] } });
const replicaSet = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8c', uid: 'rs-1', controller: true };

/** The newest pod-injection event on the subject of `result`, decoded and validated. */
async function lastEvent(result: PodInjection['result']): Promise<{ data: PodInjection; subject: string; source: string; time: string } | undefined> {
  const jsm = await operator.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.events.name, { last_by_subj: subjects.podInjection(result) });
    const event = decodeEvent(m.subject, m.header, m.data, validator, m.seq);
    return { data: event.data as PodInjection, subject: event.subject, source: event.source, time: event.time };
  } catch (error) {
    if (String(error).includes('no message found')) return undefined;
    throw error;
  }
}

beforeAll(async () => {
  const authorization = natsAuthorizationConfig([{ user: 'injector', password, role: 'injector' }]).replace('users = [\n', `users = [\n    { user: "${admin.user}", password: "${admin.pass}" }\n`);
  nats = await startNats({ authorization });
  operator = await connect({ servers: nats.url, ...admin, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  await ensureStreams(await operator.jetstreamManager());
  tls = makeWebhookTls();
  writeFileSync(join(tls.dir, 'namespaces.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: enabled\n');
  port = await freePort();
  service = createInjectorService(
    envToConfig({
      MESHBUS_INJECTOR_ADDR: `127.0.0.1:${port}`,
      MESHBUS_INJECTOR_TLS_CERT: tls.certFile,
      MESHBUS_INJECTOR_TLS_KEY: tls.keyFile,
      MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
      MESHBUS_MANIFESTS_DIR: tls.dir,
      MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile,
      MESHBUS_REPLICA_ID: 'injector-a',
      NATS_URL: nats.url,
      NATS_USER: 'injector',
      NATS_PASSWORD: password,
    }),
    { logger: silentLogger() },
  );
  await service.start();
}, 30_000);

afterAll(async () => {
  await service?.[Symbol.asyncDispose]();
  await operator?.close();
  await nats?.stop();
  if (tls) rmSync(tls.dir, { recursive: true, force: true });
});

describe('pod-injection events on the bus, with the injector NATS user', () => {
  it('publishes one event per answer: injected, skipped and refused, with the reason', async () => {
    const injected = await postReview(port, tls.ca, podReview('uid-1', pod({ generateName: 'web-5d8c-', ownerReferences: [replicaSet] })));
    expect(injected.json.response).toMatchObject({ uid: 'uid-1', allowed: true, patchType: 'JSONPatch' });
    const event = await waitFor(async () => (await lastEvent('injected'))?.data.uid === 'uid-1' && (await lastEvent('injected')), { what: 'the injected event' });
    expect(event.data).toEqual({
      namespace: 'shop',
      generateName: 'web-5d8c-',
      owner: { kind: 'ReplicaSet', name: 'web-5d8c' },
      result: 'injected',
      reason: { code: 'NamespaceEnabled', message: 'namespace shop is annotated meshbus.io/inject: enabled' },
      proxyVersion: service.injection.proxyVersion,
      dryRun: false,
      uid: 'uid-1',
      replica: 'injector-a',
    });
    expect(event.subject).toBe('shop/web-5d8c-*');
    expect(event.source).toBe('/meshbus/injector/injector-a');

    await postReview(port, tls.ca, podReview('uid-2', pod({ name: 'db-0', annotations: { 'meshbus.io/inject': 'disabled' } }), 'shop', { dryRun: true }));
    const skipped = await waitFor(async () => (await lastEvent('skipped'))?.data.uid === 'uid-2' && (await lastEvent('skipped')), { what: 'the skipped event' });
    expect(skipped.data).toMatchObject({ name: 'db-0', result: 'skipped', dryRun: true, reason: { code: 'PodDisabled' } });
    expect(skipped.data).not.toHaveProperty('owner');

    await postReview(port, tls.ca, podReview('uid-3', pod({ name: 'api-0', annotations: { 'config.meshbus.io/proxy-log-level': 'loud' } })));
    const refused = await waitFor(async () => (await lastEvent('refused'))?.data.uid === 'uid-3' && (await lastEvent('refused')), { what: 'the refused event' });
    expect(refused.data.reason).toMatchObject({ code: 'InvalidAnnotation', annotation: 'config.meshbus.io/proxy-log-level' });
  });

  it('gives the injector user its event subjects only', async () => {
    const nc = await connect({ servers: nats.url, user: 'injector', pass: password, inboxPrefix: natsInboxPrefix('injector') });
    const violations: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.permissionContext) violations.push(`${s.permissionContext.operation} ${s.permissionContext.subject}`);
    })();
    try {
      const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/meshbus/injector/test' });
      const data: PodInjection = { namespace: 'shop', name: 'p', result: 'skipped', reason: { code: 'NotEnabled', message: 'm' }, proxyVersion: '0.1.0', dryRun: false, uid: 'perm-1', replica: 'test' };
      await expect(publisher.publish('podInjection', subjects.podInjection('skipped'), 'shop/p', data)).resolves.toBeGreaterThan(0);
      nc.publish(subjects.policyRejected, new Uint8Array());
      nc.publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array());
      nc.publish('$JS.API.STREAM.DELETE.MESHBUS_EVENTS', new Uint8Array());
      nc.subscribe('meshbus.v1.events.>');
      await waitFor(() => violations.length >= 4, { what: 'four refusals' });
      expect(violations.sort()).toEqual(['publish $JS.API.STREAM.DELETE.MESHBUS_EVENTS', 'publish meshbus.v1.events.policy.rejected', 'publish meshbus.v1.state.endpoints.shop.web.80', 'subscription meshbus.v1.events.>']);
    } finally {
      await nc.close();
    }
  });

  it('answers the same while NATS is down, and publishes what it held once NATS is back', async () => {
    await nats.kill(0);
    const started = Date.now();
    const answer = await postReview(port, tls.ca, podReview('uid-outage', pod({ name: 'web-outage' })));
    expect(answer.json.response).toMatchObject({ uid: 'uid-outage', allowed: true, patchType: 'JSONPatch' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await httpGet(`${service.adminUrl}/ready`)).status).toBe(200);
    await nats.restart(0);
    const event = await waitFor(async () => (await lastEvent('injected').catch(() => undefined))?.data.uid === 'uid-outage', { what: 'the held event', timeoutMs: 15_000 });
    expect(event).toBe(true);
  }, 30_000);

  it('counts an event no stream stores as dropped, and goes on publishing once the stream is back', async () => {
    const sample = 'meshbus_injector_events_dropped_total{reason="publish-failed",service="injector"}';
    const dropped = async () => metricValue((await httpGet(`${service.adminUrl}/metrics`)).body, sample) ?? 0;
    const before = await dropped();
    await (await operator.jetstreamManager()).streams.delete(streams.events.name);
    expect((await postReview(port, tls.ca, podReview('uid-nostream', pod({ name: 'web-nostream' })))).json.response).toMatchObject({ allowed: true });
    await waitFor(async () => (await dropped()) === before + 1, { what: 'the drop counted' });
    await ensureStreams(await operator.jetstreamManager());
    await postReview(port, tls.ca, podReview('uid-back', pod({ name: 'web-back' })));
    await waitFor(async () => (await lastEvent('injected'))?.data.uid === 'uid-back', { what: 'the next event stored' });
  });
});

describe('the overrides every service takes', () => {
  it('publishes on the connection it is given, with the time of the clock it is given, and leaves the connection open', async () => {
    const nc = await connect({ servers: nats.url, user: 'injector', pass: password, inboxPrefix: natsInboxPrefix('injector'), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const at = new Date('2030-01-02T03:04:05.000Z');
    const webhookPort = await freePort();
    const given = createInjectorService(
      envToConfig({
        MESHBUS_INJECTOR_ADDR: `127.0.0.1:${webhookPort}`,
        MESHBUS_INJECTOR_TLS_CERT: tls.certFile,
        MESHBUS_INJECTOR_TLS_KEY: tls.keyFile,
        MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
        MESHBUS_MANIFESTS_DIR: tls.dir,
        MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile,
        MESHBUS_REPLICA_ID: 'injector-given',
        // Nothing listens there: the events can only leave on the given connection.
        NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      }),
      { logger: silentLogger(), nc, now: () => at },
    );
    try {
      await given.start();
      await postReview(webhookPort, tls.ca, podReview('uid-given', pod({ name: 'web-given' })));
      const event = await waitFor(async () => {
        const last = await lastEvent('injected');
        return last?.data.uid === 'uid-given' && last;
      }, { what: 'the event published on the given connection' });
      expect(event).toMatchObject({ source: '/meshbus/injector/injector-given', time: at.toISOString(), data: { replica: 'injector-given' } });
      await given[Symbol.asyncDispose]();
      expect(nc.isClosed()).toBe(false);
      await nc.flush();
    } finally {
      await given[Symbol.asyncDispose]();
      await nc.close();
    }
  });
});
