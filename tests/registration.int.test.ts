import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as fcTest, fc } from '@fast-check/vitest';
import { connect, headers as natsHeaders, RequestStrategy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent, NatsRegistrationTransport, WorkloadRegistrar, WorkloadRegistrationError, decodeEvent, type RegistrationAnswer } from '@meshbus/bus';
import { busServices, busValidator, streams, subjects, type EventDataMap, type WorkloadRegistrationReply } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { httpGet, startProcess, waitFor } from '@meshbus/testing';
import { createWorkloadToken } from '@meshbus/trust';
import type { DestinationService } from '@meshbus/destination';
import type { Gateway } from '@meshbus/gateway';
import { destinationClient, EndpointWatcher, exampleManifests, repoRoot, startMesh, startNats, type Mesh, type NatsCluster } from './harness.js';

// Workload registration as requests to the destination replicas (NATS service
// meshbus-destination), with two real replicas, a real gateway and a real nats-server.
// The tests share the mesh and run in order; each one registers what it needs, so it also passes on its own (`vitest -t`).

const web = 'web.shop.svc.cluster.local:80';
/** The example's ready web endpoints. */
const initialWeb = ['127.0.0.11:8080', '127.0.0.13:8080'];
const validator = busValidator();
const logger = silentLogger();

function token(key: KeyObject, namespace: string, serviceAccount: string): string {
  return createWorkloadToken({ namespace, serviceAccount, audience: 'identity.meshbus.io', expiresAt: new Date(Date.now() + 3_600_000) }, key);
}

const vm = (name: string, address: string, extra: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  name,
  address,
  ports: [{ name: 'http', port: 8080 }] as [{ name: string; port: number }],
  labels: { app: 'web' },
  serviceAccount: 'web',
  heartbeatIntervalMs: 60_000,
  ...extra,
});

describe('workload registration through the destination replicas', () => {
  let nats: NatsCluster;
  let manifests: Awaited<ReturnType<typeof exampleManifests>>;
  let dir: string;
  let tokenKey: KeyObject;
  let env: Record<string, string>;
  const replicas: DestinationService[] = [];
  let gw: Gateway;
  let mesh: Mesh;
  let client: ReturnType<typeof destinationClient>;
  let watcher: EndpointWatcher;
  let nc: NatsConnection;
  let transport: NatsRegistrationTransport;

  const leader = () => replicas.find((r) => r.isLeader && r.state === 'started');
  const send = <K extends 'workloadRegisterRequest' | 'workloadHeartbeatRequest' | 'workloadDeregisterRequest'>(kind: K, data: EventDataMap[K]) => transport.request(kind, data);
  const refusal = async (work: Promise<RegistrationAnswer>): Promise<WorkloadRegistrationError> => {
    const error = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkloadRegistrationError);
    return error as WorkloadRegistrationError;
  };
  /** Registers a web workload of shop (again: an unchanged registration changes nothing) and waits until the stream serves it, so each test can run on its own. */
  const registered = async (name: string, address: string) => {
    expect(await send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'web'), registration: vm(name, address) })).toMatchObject({ outcome: expect.stringMatching(/^(registered|unchanged)$/) });
    await waitFor(() => watcher.addresses().includes(`${address}:8080`), { what: `${name} in web.shop:80` });
  };
  const lastStored = async (name: string) => {
    const jsm = await nc.jetstreamManager();
    return jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.workload('shop', name) }).catch(() => undefined);
  };

  beforeAll(async () => {
    nats = await startNats();
    manifests = await exampleManifests();
    mesh = await startMesh({ nats, manifests: manifests.dir });
    dir = await mkdtemp(join(tmpdir(), 'meshbus-registration-'));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    tokenKey = pair.privateKey;
    await writeFile(join(dir, 'token.pub'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    env = { MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub') };
    replicas.push(await mesh.add('destination', { replicaId: 'dst-a', env }));
    replicas.push(await mesh.add('destination', { replicaId: 'dst-b', env }));
    gw = await mesh.add('gateway');
    client = destinationClient(gw.grpcPort);
    nc = await connect({ servers: nats.url });
    transport = new NatsRegistrationTransport({ nc, source: '/meshbus/test/registration' });
    await waitFor(() => leader(), { what: 'a destination leader', timeoutMs: 15_000 });
    watcher = new EndpointWatcher(client, web);
    await waitFor(() => watcher.addresses().join() === initialWeb.join(), { what: 'the example endpoints' });
  });
  afterAll(async () => {
    watcher?.cancel();
    client?.close();
    await nc?.close();
    await mesh?.[Symbol.asyncDispose]();
    await manifests?.[Symbol.asyncDispose]();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is discovered with $SRV.PING and $SRV.INFO: every replica, every operation', async () => {
    const services = nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 });
    const pings = [];
    for await (const p of await services.ping(busServices.destination.name)) pings.push(p);
    expect(pings.map((p) => p.name)).toEqual([busServices.destination.name, busServices.destination.name]);
    const infos = [];
    for await (const i of await services.info(busServices.destination.name)) infos.push(i);
    expect(infos.map((i) => i.metadata?.replica).sort()).toEqual(['dst-a', 'dst-b']);
    for (const info of infos) {
      expect(info.endpoints.map((e) => [e.subject, e.queue_group])).toEqual([
        [subjects.workloadRegister, busServices.destination.queue],
        [subjects.workloadHeartbeat, busServices.destination.queue],
        [subjects.workloadDeregister, busServices.destination.queue],
      ]);
    }
  });

  it('registers, heartbeats and deregisters a workload, seen in a Destination.Get stream', async () => {
    const registrar = new WorkloadRegistrar({
      transport,
      token: () => token(tokenKey, 'shop', 'web'),
      registration: { namespace: 'shop', name: 'vm-1', address: '127.0.0.50', ports: [{ name: 'http', port: 8080 }], labels: { app: 'web' }, serviceAccount: 'web' },
      intervalMs: 200,
      logger,
    });
    expect(await registrar.start()).toMatchObject({ outcome: 'registered' });
    await waitFor(() => watcher.addresses().includes('127.0.0.50:8080'), { what: 'vm-1 in web.shop:80' });
    const stored = (await lastStored('vm-1'))!;
    expect(stored.header.get('ce-type')).toBe('io.meshbus.v1.workload.registered');

    // Heartbeats are answered by either replica and never rewrite the state.
    const beats = [];
    for (let i = 0; i < 16; i++) beats.push(await send('workloadHeartbeatRequest', { token: token(tokenKey, 'shop', 'web'), namespace: 'shop', name: 'vm-1' }));
    expect(new Set(beats.map((b) => b.outcome))).toEqual(new Set(['renewed']));
    await new Promise((r) => setTimeout(r, 600));
    expect((await lastStored('vm-1'))!.seq).toBe(stored.seq);
    for (const r of replicas) {
      const metrics = (await httpGet(`${r.adminUrl}/metrics`)).body;
      expect(metrics, 'both replicas answer heartbeats').toMatch(/meshbus_destination_registration_requests_total\{operation="heartbeat",result="renewed",service="destination"\} [1-9]/);
    }
    expect(await send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'web'), registration: { ...registrar.registration } })).toMatchObject({ outcome: 'unchanged' });

    await registrar.stop();
    await waitFor(() => !watcher.addresses().includes('127.0.0.50:8080'), { what: 'vm-1 gone' });
    expect((await lastStored('vm-1'))!.header.get('ce-type')).toBe('io.meshbus.v1.workload.deregistered');
    const again = await refusal(send('workloadHeartbeatRequest', { token: token(tokenKey, 'shop', 'web'), namespace: 'shop', name: 'vm-1' }));
    expect(again.code).toBe('NotRegistered');
  });

  it('refuses bad and unauthorized requests with an error that says what to fix, and changes nothing', async () => {
    expect(await send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'web'), registration: vm('vm-1', '127.0.0.50') })).toMatchObject({ outcome: 'registered' });
    await waitFor(() => watcher.addresses().includes('127.0.0.50:8080'), { what: 'vm-1 in web.shop:80' });
    const before = watcher.addresses();
    const updates = watcher.updates.length;
    const storedSeq = (await lastStored('vm-1'))!.seq;

    const forged = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: { what: string; work: () => Promise<RegistrationAnswer>; code: string; field?: string; message: RegExp }[] = [
      {
        what: 'a forged token',
        work: () => send('workloadRegisterRequest', { token: token(forged, 'shop', 'web'), registration: vm('vm-1', '127.0.0.66') }),
        code: 'Unauthenticated',
        field: '/token',
        message: /TokenSignatureInvalid/,
      },
      {
        what: 'a token for another service account',
        work: () => send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'api'), registration: vm('vm-1', '127.0.0.66') }),
        code: 'PermissionDenied',
        field: '/registration/serviceAccount',
        message: /token is for service account api, but shop\/vm-1 registers with service account web/,
      },
      {
        what: 'a token for another namespace',
        work: () => send('workloadRegisterRequest', { token: token(tokenKey, 'prod', 'web'), registration: vm('vm-9', '127.0.0.69') }),
        code: 'PermissionDenied',
        field: '/registration/namespace',
        message: /token is for service account prod\/web; it cannot act for workload shop\/vm-9/,
      },
      {
        what: 'taking over a name registered by another service account',
        work: () => send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'api'), registration: vm('vm-1', '127.0.0.66', { serviceAccount: 'api' }) }),
        code: 'PermissionDenied',
        field: '/registration/serviceAccount',
        message: /shop\/vm-1 is registered with service account web/,
      },
      {
        what: 'deregistering a workload of another service account',
        work: () => send('workloadDeregisterRequest', { token: token(tokenKey, 'shop', 'api'), namespace: 'shop', name: 'vm-1' }),
        code: 'PermissionDenied',
        field: '/token',
        message: /registered with service account web/,
      },
      {
        what: 'a 600 KB zone',
        work: () => rawRegister(nc, { token: token(tokenKey, 'shop', 'web'), registration: vm('vm-1', '127.0.0.66', { zone: 'z'.repeat(600_000) }) }),
        code: 'InvalidRequest',
        field: '/registration/zone',
        message: /must NOT have more than 63 characters/,
      },
      {
        what: 'weight 2^32',
        work: () => rawRegister(nc, { token: token(tokenKey, 'shop', 'web'), registration: vm('vm-1', '127.0.0.66', { weight: 2 ** 32 }) }),
        code: 'InvalidRequest',
        field: '/registration/weight',
        message: /must be <= 4294967295/,
      },
    ];
    for (const c of cases) {
      const error = await refusal(c.work());
      expect({ what: c.what, code: error.code, field: error.field, retryable: error.retryable }).toEqual({ what: c.what, code: c.code, field: c.field, retryable: false });
      expect(error.message, c.what).toMatch(c.message);
    }

    await new Promise((r) => setTimeout(r, 500));
    expect(watcher.addresses()).toEqual(before);
    expect(watcher.updates.length).toBe(updates);
    expect((await lastStored('vm-1'))!.seq).toBe(storedSeq);
    expect(await lastStored('vm-9')).toBeUndefined();

    // The endpoint set still follows other changes.
    expect(await send('workloadRegisterRequest', { token: token(tokenKey, 'shop', 'web'), registration: vm('vm-2', '127.0.0.51') })).toMatchObject({ outcome: 'registered' });
    await waitFor(() => watcher.addresses().includes('127.0.0.51:8080'), { what: 'vm-2 in web.shop:80' });
  });

  it('refuses workload state that is malformed or names another workload, and the leader restores the registration', async () => {
    await registered('vm-1', '127.0.0.50');
    const subject = subjects.workload('shop', 'vm-1');
    const js = nc.jetstream();
    const junk = natsHeaders();
    for (const [k, v] of Object.entries({
      'ce-specversion': '1.0',
      'ce-id': 'junk-1',
      'ce-source': '/rogue',
      'ce-type': 'io.meshbus.v1.workload.registered',
      'ce-time': new Date().toISOString(),
      'ce-subject': 'shop/vm-1',
      'content-type': 'application/json',
    })) junk.set(k, v);
    await js.publish(subject, new TextEncoder().encode('not json'), { headers: junk });
    const renamed = encodeEvent('workloadRegistered', subject, vm('other-name', '127.0.0.99'), { source: '/rogue', subject: 'shop/vm-1' }, validator);
    await js.publish(subject, renamed.payload, { headers: renamed.headers });

    await waitFor(
      async () => {
        const last = await lastStored('vm-1');
        if (!last || last.header.get('ce-source') === '/rogue') return false;
        const event = decodeEvent(subject, last.header, last.data, validator);
        return event.kind === 'workloadRegistered' && (event.data as { name: string }).name === 'vm-1';
      },
      { what: 'the leader to restore vm-1' },
    );
    expect(watcher.addresses()).toContain('127.0.0.50:8080');
    expect(watcher.addresses()).not.toContain('127.0.0.99:8080');
    const metrics = (await httpGet(`${leader()!.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/meshbus_destination_workload_state_refused_total\{reason="json",service="destination"\} 1/);
    expect(metrics).toMatch(/meshbus_destination_workload_state_refused_total\{reason="wrong-key",service="destination"\} 1/);
  });

  it('keeps registered workloads when the destination leader is killed twice', async () => {
    await registered('vm-1', '127.0.0.50');
    await registered('vm-2', '127.0.0.51');
    for (const round of [1, 2]) {
      const old = leader()!;
      const replacement = await mesh.add('destination', { replicaId: `dst-${round + 2}`, env });
      replicas.push(replacement);
      await old[Symbol.asyncDispose]();
      await waitFor(() => leader(), { what: `a new leader after kill ${round}`, timeoutMs: 15_000 });
    }
    // Give the new leader time to reconcile: it must not drop what it recovered from the bus.
    await new Promise((r) => setTimeout(r, 1500));
    expect(watcher.addresses()).toEqual([...initialWeb, '127.0.0.50:8080', '127.0.0.51:8080'].sort());
    // The new leader knows vm-1 from the bus: its heartbeat is counted, not refused.
    expect(await send('workloadHeartbeatRequest', { token: token(tokenKey, 'shop', 'web'), namespace: 'shop', name: 'vm-1' })).toMatchObject({ outcome: 'renewed' });
    expect(await send('workloadDeregisterRequest', { token: token(tokenKey, 'shop', 'web'), namespace: 'shop', name: 'vm-2' })).toMatchObject({ outcome: 'deregistered' });
    await waitFor(() => !watcher.addresses().includes('127.0.0.51:8080'), { what: 'vm-2 gone' });
  });

  fcTest.prop(
    [
      fc.uint8Array({ maxLength: 2048 }),
      fc.dictionary(
        fc.oneof(fc.constantFrom('ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'ce-dataschema', 'content-type'), fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/)),
        fc.oneof(fc.constantFrom('1.0', 'io.meshbus.v1.workload.register.request', 'application/json'), fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ''))),
        { maxKeys: 10 },
      ),
      fc.constantFrom(subjects.workloadRegister, subjects.workloadHeartbeat, subjects.workloadDeregister),
    ],
    { numRuns: 150 },
  )('answers arbitrary bodies and headers with an error reply, and keeps answering', async (body, hdrs, subject) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) if (v.trim() !== '') h.set(k, v);
    const answer = await nc.request(subject, body, { headers: h, timeout: 5000 });
    const event = decodeEvent(answer.subject, answer.headers, answer.data, validator);
    expect(event.kind).toBe('workloadRegistrationReply');
    const reply = event.data as WorkloadRegistrationReply;
    expect('error' in reply && ['InvalidRequest', 'Unauthenticated', 'PermissionDenied', 'NotRegistered'].includes(reply.error.code)).toBe(true);
  });

  it('meshbus register registers through the request path and deregisters on SIGTERM', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'meshbus-register-cli-'));
    const tokenFile = join(cwd, 'token');
    await mkdir(cwd, { recursive: true });
    await writeFile(tokenFile, `${token(tokenKey, 'shop', 'web')}\n`);
    const cli = (args: string[]) => startProcess({ command: process.execPath, args: [join(repoRoot, 'cli/dist/main.js'), ...args], cwd, env: { ...process.env, NATS_URL: nats.url } });
    const flags = ['register', '--namespace', 'shop', '--name', 'vm-5', '--address', '127.0.0.55', '--port', 'http=8080', '--label', 'app=web', '--service-account', 'web', '--interval', '300ms'];

    const run = cli([...flags, '--token-file', tokenFile]);
    await waitFor(() => watcher.addresses().includes('127.0.0.55:8080'), { what: 'vm-5 in web.shop:80', timeoutMs: 15_000 });
    expect(run.output()).toContain('registered shop/vm-5 (127.0.0.55, ports http=8080)');
    expect(await run.stop()).toEqual({ code: 0, signal: null });
    expect(run.output()).toContain('deregistered shop/vm-5');
    await waitFor(() => !watcher.addresses().includes('127.0.0.55:8080'), { what: 'vm-5 gone' });

    const wrong = cli([...flags, '--service-account', 'api', '--token-file', tokenFile]);
    expect((await wrong.exited).code).toBe(1);
    expect(wrong.output()).toContain('registration refused (PermissionDenied at /registration/serviceAccount): the token is for service account web, but shop/vm-5 registers with service account api');

    const none = cli(flags);
    expect((await none.exited).code).toBe(1);
    expect(none.output()).toContain('register needs the workload token: pass --token-file <file> or set MESHBUS_WORKLOAD_TOKEN');
    await rm(cwd, { recursive: true, force: true });
  });
});

/** Sends a register request without the client's own schema check, as a hostile or buggy client would. */
async function rawRegister(nc: NatsConnection, data: unknown): Promise<RegistrationAnswer> {
  const permissive = { check: () => undefined } as unknown as ReturnType<typeof busValidator>;
  const { headers, payload } = encodeEvent('workloadRegisterRequest', subjects.workloadRegister, data as EventDataMap['workloadRegisterRequest'], { source: '/meshbus/test/raw', subject: 'shop/vm-1' }, permissive);
  const answer = await nc.request(subjects.workloadRegister, payload, { headers, timeout: 5000 });
  const reply = decodeEvent(answer.subject, answer.headers, answer.data, busValidator()).data as WorkloadRegistrationReply;
  if ('error' in reply) throw new WorkloadRegistrationError(reply.error.code, reply.error.message, reply.error.retryable, reply.error.field);
  return reply;
}
