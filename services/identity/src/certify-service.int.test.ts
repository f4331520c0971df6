import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, RequestStrategy, type NatsConnection, type ServiceClient, type ServiceIdentity, type ServiceInfo, type ServiceStats } from 'nats';
import { busServices, busValidator, subjects, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent } from '@meshbus/bus';
import { createMetricsRegistry, silentLogger, type Registry } from '@meshbus/runtime';
import { startNats, type NatsCluster } from '@meshbus/testing';
import { writeTrustMaterial } from '@meshbus/trust';
import { CERTIFY_ENDPOINT } from './certify-responder.js';
import { envToConfig } from './config.js';
import { createIdentityService } from './composition-root.js';
import type { IdentityService } from './identity-service.js';
import {
  certifyRequest,
  identityOf,
  makeCsr,
  makeTokenKeys,
  makeTrustMaterial,
  refusalOf,
  requestCertificate,
  workloadToken,
} from './test-fixtures.js';

const validator = busValidator();
const web = identityOf('web', 'shop');

async function collect<T>(iterator: Promise<AsyncIterable<T>>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of await iterator) items.push(item);
  return items;
}

describe('the certify responder on the NATS services API (two replicas, real nats-server)', () => {
  let nats: NatsCluster;
  let dir: string;
  let nc: NatsConnection;
  let client: ServiceClient;
  let replicas: IdentityService[];
  const registries = new Map<string, Registry>();
  const keys = makeTokenKeys();
  let token: string;

  beforeAll(async () => {
    nats = await startNats();
    dir = await mkdtemp(join(tmpdir(), 'meshbus-certify-service-'));
    await writeTrustMaterial(dir, makeTrustMaterial());
    await writeFile(join(dir, 'token.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    token = workloadToken(keys.privateKey, 'web', 'shop');
    nc = await connect({ servers: nats.url });
    client = nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 });
    replicas = ['identity-a', 'identity-b'].map((replicaId) => {
      const registry = createMetricsRegistry('identity');
      registries.set(replicaId, registry);
      return createIdentityService(
        envToConfig({
          NATS_URL: nats.url,
          MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
          MESHBUS_REPLICA_ID: replicaId,
          MESHBUS_IDENTITY_DIR: dir,
          MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
        }),
        { logger: silentLogger(), registry },
      );
    });
    await Promise.all(replicas.map((r) => r.start()));
  });

  afterAll(async () => {
    for (const r of replicas ?? []) await r[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('$SRV.PING finds both replicas, each with its replica id', async () => {
    const pings = await collect<ServiceIdentity>(client.ping(busServices.identity.name));
    expect(pings).toHaveLength(2);
    expect(pings.every((p) => p.name === busServices.identity.name && /^\d+\.\d+\.\d+/.test(p.version))).toBe(true);
    expect(new Set(pings.map((p) => p.metadata?.replica))).toEqual(new Set(['identity-a', 'identity-b']));
    expect(new Set(pings.map((p) => p.id)).size).toBe(2);
    // Without a name, PING lists every service on the bus, identity among them.
    const everyone = await collect<ServiceIdentity>(client.ping());
    expect(everyone.filter((p) => p.name === busServices.identity.name)).toHaveLength(2);
  });

  it('$SRV.INFO lists the certify endpoint on its subject and queue group', async () => {
    const infos = await collect<ServiceInfo>(client.info(busServices.identity.name));
    expect(infos).toHaveLength(2);
    for (const info of infos) {
      expect(info.description).toMatch(/certificates/);
      expect(info.endpoints).toEqual([expect.objectContaining({ name: CERTIFY_ENDPOINT, subject: subjects.certify, queue_group: busServices.identity.queue })]);
    }
  });

  it('shares requests across the replicas; $SRV.STATS counts requests, errors and processing time', async () => {
    const statsBefore = await collect<ServiceStats>(client.stats(busServices.identity.name));
    const requestsBefore = statsBefore.reduce((sum, s) => sum + s.endpoints![0]!.num_requests, 0);

    const answers = await Promise.all(Array.from({ length: 30 }, () => requestCertificate(nc, certifyRequest(web, token, makeCsr(web).csrDer))));
    for (const { response } of answers) expect(refusalOf(response)).toBeUndefined();
    const bySource = new Map<string, number>();
    for (const { event } of answers) bySource.set(event.source, (bySource.get(event.source) ?? 0) + 1);
    expect([...bySource.keys()].sort()).toEqual(['/meshbus/identity/identity-a', '/meshbus/identity/identity-b']);

    // One refusal: a token for another service account.
    const refused = await requestCertificate(nc, certifyRequest(web, workloadToken(keys.privateKey, 'db', 'shop'), makeCsr(web).csrDer));
    expect(refusalOf(refused.response)).toMatchObject({ grpcCode: 7 });

    const stats = await collect<ServiceStats>(client.stats(busServices.identity.name));
    expect(stats).toHaveLength(2);
    const endpoints = stats.map((s) => s.endpoints![0]!);
    for (const endpoint of endpoints) {
      expect(endpoint).toMatchObject({ name: CERTIFY_ENDPOINT, subject: subjects.certify, queue_group: busServices.identity.queue });
      expect(endpoint.num_requests).toBeGreaterThan(0);
      // A CSR check and a signature take well over 100 µs: the whole answer is timed, not only its synchronous start.
      expect(endpoint.average_processing_time).toBeGreaterThan(100_000);
      expect(endpoint.processing_time).toBeGreaterThanOrEqual(endpoint.average_processing_time);
    }
    expect(endpoints.reduce((sum, e) => sum + e.num_requests, 0) - requestsBefore).toBe(31);
    expect(endpoints.reduce((sum, e) => sum + e.num_errors, 0)).toBe(1);
    expect(endpoints.find((e) => e.num_errors === 1)!.last_error).toMatch(/^IdentityMismatch: /);
    const issued = endpoints.reduce((sum, e) => sum + (e.data as { issued: number }).issued, 0);
    expect(issued).toBe(30);
  });

  it('answers undecodable bytes on the bus with INVALID_ARGUMENT and counts them', async () => {
    const garbage = Uint8Array.from([0xff, 0xfe, 0x00, 0x9c, 0x80, 0x7b, 0x22]);
    const cases = [
      { what: 'no headers', opts: {} },
      {
        what: 'CloudEvent headers, binary body',
        opts: {
          headers: (() => {
            const h = headers();
            h.set('ce-specversion', '1.0');
            h.set('ce-type', 'io.meshbus.v1.identity.certify.request');
            h.set('ce-id', 'x-1');
            h.set('ce-source', '/test');
            h.set('content-type', 'application/json');
            return h;
          })(),
        },
      },
    ];
    for (const { what, opts } of cases) {
      const reply = await nc.request(subjects.certify, garbage, { timeout: 5000, ...opts });
      const event = decodeEvent(reply.subject, reply.headers, reply.data, validator);
      expect(event.kind, what).toBe('certifyResponse');
      expect((event.data as CertifyResponse), what).toMatchObject({ error: { grpcCode: 3, code: 'MalformedEvent' } });
    }
    let counted = 0;
    for (const registry of registries.values()) {
      const text = await registry.getSingleMetricAsString('meshbus_identity_certificates_issued_total');
      counted += Number(/result="MalformedEvent"[^}]*} (\d+)/.exec(text)?.[1] ?? 0);
    }
    expect(counted).toBe(2);
    // Nothing the callers sent stopped a replica.
    expect(await collect<ServiceIdentity>(client.ping(busServices.identity.name))).toHaveLength(2);
    const { response } = await requestCertificate(nc, certifyRequest(web, token, makeCsr(web).csrDer));
    expect(refusalOf(response)).toBeUndefined();
  });
});
