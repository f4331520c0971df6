/*
 * The injector benchmark: admission latency of the real injector webhook over HTTPS at a constant
 * rate (open loop: each request is sent at its scheduled time, whatever the previous ones did, and
 * its latency counts from that time), for a typical Deployment pod, against a baseline measured in
 * the same run: a bare Node HTTPS server answering a fixed AdmissionReview response of the same
 * size. Server and client run in separate processes; the injector publishes its pod-injection
 * events to a real nats-server, as in a cluster.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureStreams } from '@meshbus/bus';
import { podCreateReview } from '@meshbus/injector';
import { natsAuthorizationConfig, startNats, type NatsCluster } from '@meshbus/testing';
import { connect } from 'nats';
import { IpcChild } from './ipc-child.js';
import type { InjectorServerCommand, InjectorServerReport } from './injector-server.js';
import { percentile } from './stats.js';
import { fmtMs, table } from './tables.js';

/** The p99 admission latency the injector should stay under at {@link INJECTOR_RATE}, in ms. */
export const INJECTOR_TARGET_P99_MS = 2;
/** The rate of the target, requests per second. */
export const INJECTOR_RATE = 1000;

/** Options of {@link runInjectorBench}. */
export interface InjectorBenchOptions {
  /** Measured seconds per server, after {@link warmUpS} at the same rate. @default 10 */
  readonly durationS?: number;
  /** Requests per second. @default {@link INJECTOR_RATE} */
  readonly rate?: number;
  /** Run the servers with node --cpu-prof, writing their profiles here. */
  readonly cpuProfileDir?: string;
  readonly progress?: (line: string) => void;
}

/** Latencies of one server at the constant rate, in ms. */
export interface InjectorLatency {
  readonly requests: number;
  readonly errors: number;
  /** Requests answered per second over the measured window. */
  readonly achievedRate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** CPU time of the server process per request (user + system, warm-up included), in microseconds. */
  readonly cpuUsPerRequest: number;
}

export interface InjectorBenchResult {
  readonly settings: { readonly durationS: number; readonly warmUpS: number; readonly rate: number; readonly connections: number; readonly requestBytes: number; readonly responseBytes: number };
  readonly baseline: InjectorLatency;
  readonly injector: InjectorLatency;
  /** The injector with events switched off (`MESHBUS_INJECTOR_EVENTS=false`): what publishing costs. */
  readonly injectorNoEvents: InjectorLatency;
  readonly profiles: readonly string[];
  format(): string;
}

const serverMain = fileURLToPath(new URL('./injector-server.js', import.meta.url));
const warmUpS = 2;
/** Keep-alive connections of the client, as the API server keeps to a webhook. */
const connections = 16;
const serverName = 'meshbus-injector.meshbus.svc';

/** A Deployment's pod as the API server sends it: three containers with ports, probes, env, resources and mounts. */
export function typicalPod(): Record<string, unknown> {
  const probe = (path: string, port: number) => ({ httpGet: { path, port, scheme: 'HTTP' }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  const env = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ name: `${prefix}_SETTING_${i}`, value: `value-${i}` }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'checkout-7d9f8b6c5d-',
      namespace: 'shop',
      labels: { app: 'checkout', 'app.kubernetes.io/name': 'checkout', 'app.kubernetes.io/version': '2.14.1', 'pod-template-hash': '7d9f8b6c5d', tier: 'backend' },
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9102',
        'kubectl.kubernetes.io/restartedAt': '2026-11-30T09:12:44Z',
        'config.meshbus.io/proxy-cpu-limit': '500m',
        'config.meshbus.io/skip-outbound-ports': '5432',
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-7d9f8b6c5d', uid: '4f0a9c1e-3b2d-4c6e-9a8b-1d2e3f4a5b6c', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: 'checkout',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: { runAsNonRoot: true, fsGroup: 2000 },
      containers: [
        {
          name: 'checkout',
          image: 'registry.example.com/shop/checkout:2.14.1',
          imagePullPolicy: 'IfNotPresent',
          args: ['--config', '/etc/checkout/config.yaml'],
          ports: [
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
            { name: 'grpc', containerPort: 9090, protocol: 'TCP' },
          ],
          env: [...env(10, 'CHECKOUT'), { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          livenessProbe: probe('/healthz', 8080),
          readinessProbe: probe('/ready', 8080),
          volumeMounts: [
            { name: 'config', mountPath: '/etc/checkout', readOnly: true },
            { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
        {
          name: 'log-shipper',
          image: 'registry.example.com/infra/log-shipper:1.8.0',
          ports: [{ name: 'metrics', containerPort: 9102, protocol: 'TCP' }],
          env: env(4, 'SHIPPER'),
          resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '64Mi' } },
          livenessProbe: probe('/live', 9102),
          volumeMounts: [{ name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        },
        {
          name: 'cache',
          image: 'registry.example.com/infra/cache:7.2',
          ports: [{ name: 'cache', containerPort: 6379, protocol: 'TCP' }],
          resources: { requests: { cpu: '50m', memory: '64Mi' } },
          readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 5 },
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: 'checkout-config', defaultMode: 420 } },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
  };
}

/** The AdmissionReview of a pod CREATE as the API server sends it. */
export function admissionReview(uid: string, pod: Record<string, unknown>): string {
  return JSON.stringify(podCreateReview(pod, { uid, namespace: 'shop' }));
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** POSTs one body, resolving with the status and the response text. */
function post(agent: Agent, port: number, ca: Buffer, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject', method: 'POST', agent, ca, servername: serverName, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends `rate` requests per second for `durationS` seconds, each at its scheduled time; returns
 * the latencies (from the scheduled time to the end of the response) of those scheduled after
 * `warmUpS`.
 */
async function constantRate(options: { port: number; ca: Buffer; body: (i: number) => string; rate: number; durationS: number; warmUpS: number; server: IpcChild<InjectorServerCommand, InjectorServerReport> }): Promise<InjectorLatency> {
  const cpu = async () => {
    options.server.send({ type: 'cpu' });
    const r = await options.server.next('cpu', 5000);
    return r.userUs + r.systemUs;
  };
  const cpuBefore = await cpu();
  const agent = new Agent({ keepAlive: true, maxSockets: connections, ca: options.ca });
  const intervalNs = 1e9 / options.rate;
  const total = Math.round(options.rate * (options.warmUpS + options.durationS));
  const measuredFrom = Math.round(options.rate * options.warmUpS);
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  let lastEnd = 0n;
  const start = process.hrtime.bigint();
  const pending = new Set<Promise<void>>();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      while (sent < total && start + BigInt(Math.round(sent * intervalNs)) <= now) {
        const i = sent++;
        const scheduled = start + BigInt(Math.round(i * intervalNs));
        const p: Promise<void> = post(agent, options.port, options.ca, options.body(i)).then(
          (r) => {
            const end = process.hrtime.bigint();
            if (r.status !== 200) errors++;
            if (i >= measuredFrom) {
              latencies.push(Number(end - scheduled) / 1e6);
              if (end > lastEnd) lastEnd = end;
            }
          },
          () => {
            errors++;
          },
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      if (sent >= total) return resolve();
      // Wake up about every half interval; setImmediate when the next send is due very soon.
      const dueInNs = Number(start + BigInt(Math.round(sent * intervalNs)) - process.hrtime.bigint());
      if (dueInNs < 300_000) setImmediate(tick);
      else setTimeout(tick, Math.max(0, Math.floor(dueInNs / 1e6) - 0.2));
    };
    tick();
  });
  await Promise.all(pending);
  const cpuUs = (await cpu()) - cpuBefore;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const measuredStart = start + BigInt(Math.round(measuredFrom * intervalNs));
  const windowS = Number(lastEnd - measuredStart) / 1e9;
  return {
    requests: sorted.length,
    errors,
    achievedRate: windowS > 0 ? sorted.length / windowS : 0,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    cpuUsPerRequest: cpuUs / total,
  };
}

async function startServer(command: Extract<InjectorServerCommand, { type: 'start' }>, label: string, cpuProfileDir: string | undefined): Promise<{ port: number; child: IpcChild<InjectorServerCommand, InjectorServerReport> }> {
  const nodeArgs = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir, '--cpu-prof-name', `injector-${label}.${Date.now()}.cpuprofile`] : [];
  const child = IpcChild.spawn<InjectorServerCommand, InjectorServerReport>(serverMain, `injector bench ${label} server`, nodeArgs);
  child.send(command);
  const ready = await child.next('ready', 30_000);
  return { port: ready.port, child };
}

async function stopServer(child: IpcChild<InjectorServerCommand, InjectorServerReport>): Promise<void> {
  child.send({ type: 'stop' });
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000))]);
  await child.stop();
}

/** Runs the baseline, then the injector, at the same rate; prints nothing but progress. */
export async function runInjectorBench(options: InjectorBenchOptions = {}): Promise<InjectorBenchResult> {
  const durationS = options.durationS ?? 10;
  const rate = options.rate ?? INJECTOR_RATE;
  const progress = options.progress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-injector-bench-'));
  let nats: NatsCluster | undefined;
  const profiles: string[] = [];
  try {
    if (options.cpuProfileDir) await mkdir(options.cpuProfileDir, { recursive: true });
    openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=bench-ca', '-days', '2', '-out', 'ca.pem');
    openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-subj', '/CN=meshbus-injector', '-out', 'tls.csr');
    await writeFile(join(dir, 'ext.cnf'), `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
    openssl(dir, 'x509', '-req', '-in', 'tls.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'tls.pem');
    const ca = await readFile(join(dir, 'ca.pem'));
    await writeFile(join(dir, 'namespaces.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: enabled\n');

    progress('injector: starting nats-server for the pod-injection events');
    const password = 'injector-bench-pw';
    const admin = { user: 'admin', pass: 'admin-bench-pw' };
    nats = await startNats({ authorization: natsAuthorizationConfig([{ user: 'injector', password, role: 'injector' }]).replace('users = [\n', `users = [\n    { user: "${admin.user}", password: "${admin.pass}" }\n`) });
    const operator = await connect({ servers: nats.url, ...admin });
    await ensureStreams(await operator.jetstreamManager());
    await operator.close();

    const pod = typicalPod();
    const body = (i: number) => admissionReview(`bench-${i}`, pod);
    const injectorEnv = {
      MESHBUS_INJECTOR_ADDR: '127.0.0.1:0',
      MESHBUS_INJECTOR_TLS_CERT: join(dir, 'tls.pem'),
      MESHBUS_INJECTOR_TLS_KEY: join(dir, 'tls.key'),
      MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_INJECTOR_TRUST_ANCHORS: join(dir, 'ca.pem'),
      MESHBUS_REPLICA_ID: 'injector-bench',
      NATS_URL: nats.url,
      NATS_USER: 'injector',
      NATS_PASSWORD: password,
    };

    // One answer of the real injector, to check it and to size the baseline's answer.
    const probe = await startServer({ type: 'start', kind: 'injector', env: injectorEnv }, 'probe', undefined);
    const agent = new Agent({ keepAlive: false, ca });
    const sample = await post(agent, probe.port, ca, body(0));
    await stopServer(probe.child);
    const answer = JSON.parse(sample.text) as { response?: { allowed?: boolean; patchType?: string } };
    if (sample.status !== 200 || answer.response?.patchType !== 'JSONPatch') throw new Error(`the injector did not inject the benchmark pod: HTTP ${sample.status} ${sample.text.slice(0, 300)}`);

    progress(`injector: baseline (a bare Node HTTPS server, fixed ${sample.text.length}-byte answer), ${rate}/s for ${warmUpS}+${durationS} s`);
    const base = await startServer({ type: 'start', kind: 'baseline', certFile: join(dir, 'tls.pem'), keyFile: join(dir, 'tls.key'), response: sample.text }, 'baseline', options.cpuProfileDir);
    const baseline = await constantRate({ port: base.port, ca, body, rate, durationS, warmUpS, server: base.child });
    await stopServer(base.child);

    progress(`injector: the injector webhook, ${rate}/s for ${warmUpS}+${durationS} s`);
    const real = await startServer({ type: 'start', kind: 'injector', env: injectorEnv }, 'webhook', options.cpuProfileDir);
    const injector = await constantRate({ port: real.port, ca, body, rate, durationS, warmUpS, server: real.child });
    await stopServer(real.child);

    progress(`injector: the injector webhook without events, ${rate}/s for ${warmUpS}+${durationS} s`);
    const quiet = await startServer({ type: 'start', kind: 'injector', env: { ...injectorEnv, MESHBUS_INJECTOR_EVENTS: 'false' } }, 'webhook-no-events', options.cpuProfileDir);
    const injectorNoEvents = await constantRate({ port: quiet.port, ca, body, rate, durationS, warmUpS, server: quiet.child });
    await stopServer(quiet.child);
    if (options.cpuProfileDir) for (const label of ['baseline', 'webhook', 'webhook-no-events']) profiles.push(join(options.cpuProfileDir, `injector-${label}.*.cpuprofile`));

    const settings = { durationS, warmUpS, rate, connections, requestBytes: Buffer.byteLength(body(0)), responseBytes: sample.text.length };
    return {
      settings,
      baseline,
      injector,
      injectorNoEvents,
      profiles,
      format: () => formatInjector(settings, baseline, injector, injectorNoEvents, profiles),
    };
  } finally {
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function formatInjector(settings: InjectorBenchResult['settings'], baseline: InjectorLatency, injector: InjectorLatency, injectorNoEvents: InjectorLatency, profiles: readonly string[]): string {
  const row = (name: string, l: InjectorLatency) => [name, `${l.achievedRate.toFixed(0)}/s`, String(l.requests), String(l.errors), fmtMs(l.p50), fmtMs(l.p90), fmtMs(l.p99), fmtMs(l.max), `${l.cpuUsPerRequest.toFixed(0)} µs`];
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
  const met = injector.p99 < INJECTOR_TARGET_P99_MS;
  const lines = [
    `injector: admission latency over HTTPS, ${settings.rate} requests/s open loop for ${settings.durationS} s (after ${settings.warmUpS} s warm-up), ${settings.connections} keep-alive connections; a Deployment pod of 3 containers (${settings.requestBytes}-byte AdmissionReview, ${settings.responseBytes}-byte answer)`,
    table(['server', 'achieved', 'requests', 'errors', 'p50', 'p90', 'p99', 'max', 'CPU/request'], [row('baseline: bare Node HTTPS, fixed answer', baseline), row('meshbus injector (events to NATS)', injector), row('meshbus injector, events off', injectorNoEvents)]),
    `injector / baseline: p50 ${ratio(injector.p50, baseline.p50)}, p90 ${ratio(injector.p90, baseline.p90)}, p99 ${ratio(injector.p99, baseline.p99)}`,
    `target: p99 < ${INJECTOR_TARGET_P99_MS} ms at ${INJECTOR_RATE}/s: ${met ? 'met' : 'missed'} (${fmtMs(injector.p99)})`,
  ];
  if (profiles.length > 0) lines.push(`CPU profiles: ${profiles.join(', ')}`);
  return lines.join('\n');
}
