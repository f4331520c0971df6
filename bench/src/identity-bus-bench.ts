import { generateKeyPairSync } from 'node:crypto';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, RequestStrategy, type NatsConnection, type ServiceStats } from 'nats';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { busServices, busValidator, subjects, type CertifyResponse } from '@meshbus/bus-schemas';
import { identityName } from '@meshbus/core';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { createIssuer, createTrustAnchor, createWorkloadToken, writeTrustMaterial } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { summarize, type LatencySummary } from './stats.js';

/** Options of {@link runIdentityBusBench}. */
export interface IdentityBusBenchOptions {
  /** Time spent sending requests, after a one-second warm-up. */
  readonly durationMs: number;
  /** Requests kept in flight. @default 32 */
  readonly concurrency?: number;
  /** CSRs made before measuring. @default 200 */
  readonly csrPoolSize?: number;
}

/** Figures from one {@link runIdentityBusBench} run. */
export interface IdentityBusBenchResult {
  readonly durationMs: number;
  readonly concurrency: number;
  /** Certificates received during the measurement. */
  readonly issued: number;
  /** Certificates per second of wall time. */
  readonly perSecond: number;
  /** CPU time (user + system) the identity process used during the measurement; undefined where /proc is not readable. */
  readonly identityCpuMs: number | undefined;
  /** Certificates per CPU second of the identity process, comparable to the CertificateAuthority figure. */
  readonly perIdentityCpuSecond: number | undefined;
  /** Request to reply, milliseconds, as the requester saw it. */
  readonly latencyMs: LatencySummary;
  /** What the replica itself reports in `$SRV.STATS` for the certify endpoint. */
  readonly serviceStats: { readonly requests: number; readonly errors: number; readonly averageProcessingMs: number };
  format(): string;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const identityMain = join(repoRoot, 'services/identity/dist/main.js');
const DAY = 86_400_000;

/** utime + stime of a process, in milliseconds, from /proc (Linux). */
async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), counted from the state field (3): utime, stime, in clock ticks (100 per second).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Certificates through the bus: one identity replica (the built service, its own process) answers
 * `certifyRequest` CloudEvents that this process sends over NATS, `concurrency` at a time, as a
 * gateway forwards them.
 */
export async function runIdentityBusBench(options: IdentityBusBenchOptions): Promise<IdentityBusBenchResult> {
  const concurrency = options.concurrency ?? 32;
  const csrPoolSize = options.csrPoolSize ?? 200;
  const validator = busValidator();
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-identity-bench-'));
  let nats: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  let identity: RunningProcess | undefined;
  try {
    const now = Date.now();
    const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY) };
    const anchor = createTrustAnchor({ commonName: 'root.bench.meshbus', validity });
    await writeTrustMaterial(dir, { anchor, issuer: createIssuer({ anchor, commonName: 'identity.bench.meshbus', validity }) });
    const tokenKeys = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'token.pub'), tokenKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const token = createWorkloadToken({ namespace: 'shop', serviceAccount: 'web', audience: 'identity.meshbus.io', expiresAt: new Date(now + DAY) }, tokenKeys.privateKey);
    const name = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
    const requests = Array.from({ length: csrPoolSize }, () => {
      const csr = createCsr({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, subjectAltNames: [{ type: 'dns', value: name }] });
      return encodeEvent(
        'certifyRequest',
        subjects.certify,
        { identity: name, token: Buffer.from(token).toString('base64'), csr: Buffer.from(csr).toString('base64') },
        { source: '/meshbus/bench', subject: name },
        validator,
      );
    });

    nats = await startNats();
    const adminPort = await freePort();
    identity = startProcess({
      command: process.execPath,
      args: [identityMain],
      env: {
        ...process.env,
        NATS_URL: nats.url,
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        MESHBUS_IDENTITY_DIR: dir,
        MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
        MESHBUS_LOG_LEVEL: 'warn',
      },
    });
    const running = identity;
    try {
      await waitFor(async () => (await httpGet(`http://127.0.0.1:${adminPort}/ready`)).status === 200, { timeoutMs: 30_000, what: 'identity ready' });
    } catch (error) {
      throw new Error(`${(error as Error).message}; identity output:\n${running.output()}`);
    }
    const bus = await connect({ servers: nats.url });
    nc = bus;

    let next = 0;
    const certify = async (): Promise<number> => {
      const { headers, payload } = requests[next++ % csrPoolSize]!;
      const started = performance.now();
      const reply = await bus.request(subjects.certify, payload, { headers, timeout: 10_000 });
      const elapsed = performance.now() - started;
      const response = decodeEvent(reply.subject, reply.headers, reply.data, validator).data as CertifyResponse;
      if ('error' in response) throw new Error(`identity refused a bench request: ${response.error.code}: ${response.error.message}`);
      return elapsed;
    };
    const runFor = async (ms: number): Promise<number[]> => {
      const end = performance.now() + ms;
      const latencies: number[] = [];
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) latencies.push(await certify());
        }),
      );
      return latencies;
    };

    await runFor(1000);
    const pid = running.child.pid;
    const cpuBefore = pid === undefined ? undefined : await processCpuMs(pid);
    const started = performance.now();
    const latencies = await runFor(options.durationMs);
    const elapsedMs = performance.now() - started;
    const cpuAfter = pid === undefined ? undefined : await processCpuMs(pid);
    const identityCpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;

    const stats: ServiceStats[] = [];
    for await (const s of await bus.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 }).stats(busServices.identity.name)) stats.push(s);
    const endpoint = stats[0]?.endpoints?.[0];
    const figures = {
      durationMs: options.durationMs,
      concurrency,
      issued: latencies.length,
      perSecond: (latencies.length * 1000) / elapsedMs,
      identityCpuMs,
      perIdentityCpuSecond: identityCpuMs === undefined || identityCpuMs === 0 ? undefined : (latencies.length * 1000) / identityCpuMs,
      latencyMs: summarize(latencies),
      serviceStats: {
        requests: endpoint?.num_requests ?? 0,
        errors: endpoint?.num_errors ?? 0,
        averageProcessingMs: (endpoint?.average_processing_time ?? 0) / 1e6,
      },
    };
    return { ...figures, format: () => formatIdentityBusBench(figures) };
  } finally {
    await nc?.close();
    if (identity) await identity.stop(10_000);
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function formatIdentityBusBench(result: Omit<IdentityBusBenchResult, 'format'>): string {
  const perCpu = result.perIdentityCpuSecond === undefined ? 'n/a' : Math.round(result.perIdentityCpuSecond).toLocaleString('en-US');
  const { latencyMs: l, serviceStats: s } = result;
  return [
    `identity over NATS: one replica process, ${result.concurrency} requests in flight, ${result.durationMs} ms`,
    `certificates per second ${Math.round(result.perSecond).toLocaleString('en-US')} (wall), ${perCpu} per CPU second of the identity process`,
    `latency ms p50 ${l.p50.toFixed(1)}  p99 ${l.p99.toFixed(1)}  max ${l.max.toFixed(1)}; $SRV.STATS: ${s.requests} requests, ${s.errors} errors, ` +
      `${s.averageProcessingMs.toFixed(2)} ms average processing`,
  ].join('\n');
}
