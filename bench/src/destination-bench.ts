import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import { subjects } from '@meshbus/bus-schemas';
import { createDestinationService, envToConfig, folderResourceSource } from '@meshbus/destination';
import { silentLogger } from '@meshbus/runtime';
import { freePort, startNats } from '@meshbus/testing';
import { summarize, type LatencySummary } from './stats.js';

/** Options of {@link runDestinationBench}. */
export interface DestinationBenchOptions {
  /** Services, spread over 50 namespaces. @default 5000 */
  readonly services?: number;
  /** Workloads per service. @default 10 */
  readonly workloadsPerService?: number;
  /** Measured manifest changes. @default 100 */
  readonly changes?: number;
  /** Quiet period of the folder source during the change rounds. @default 0 */
  readonly quietMs?: number;
  readonly progress: (line: string) => void;
}

/** Figures from one {@link runDestinationBench} run. */
export interface DestinationBenchResult {
  readonly services: number;
  readonly workloads: number;
  readonly files: number;
  readonly quietMs: number;
  /** From start() to every endpoint set and profile stored on the bus. */
  readonly fullLoadMs: number;
  /** From writing one workload's new address to its endpoint set arriving from the bus. */
  readonly change: LatencySummary;
  format(): string;
}

/** Target of the change latency at p99. */
export const DESTINATION_CHANGE_TARGET_MS = 50;

const namespaceCount = 50;

function serviceFile(namespace: string, service: string, workloads: number, moved?: { index: number; address: string }): string {
  const parts = [
    `apiVersion: v1
kind: Service
metadata: { name: ${service}, namespace: ${namespace} }
spec:
  selector: { app: ${service} }
  ports: [{ name: http, port: 80, targetPort: http }]
`,
  ];
  for (let w = 0; w < workloads; w++) {
    const address = moved?.index === w ? moved.address : `10.${w}.${Number(service.slice(4)) >> 8}.${Number(service.slice(4)) & 255}`;
    parts.push(`apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: ${service}-${w}, namespace: ${namespace}, labels: { app: ${service} } }
spec: { address: ${address}, ports: [{ name: http, port: 8080 }], serviceAccount: ${service} }
`);
  }
  return parts.join('---\n');
}

/**
 * The destination service with a large mesh loaded from a folder of
 * manifests (one file per service and its workloads), on a real nats-server:
 * the time to load and publish everything, then the time from one
 * workload's address change in its file to the new endpoint set on the bus.
 */
export async function runDestinationBench(options: DestinationBenchOptions): Promise<DestinationBenchResult> {
  const serviceCount = options.services ?? 5000;
  const perService = options.workloadsPerService ?? 10;
  const changeCount = options.changes ?? 100;
  const quietMs = options.quietMs ?? 0;
  const { progress } = options;

  const dir = await mkdtemp(path.join(tmpdir(), 'meshbus-bench-destination-'));
  const nats = await startNats({ extraConfig: 'max_payload: 8388608' });
  const nc = await connect({ servers: nats.url });
  const names = Array.from({ length: serviceCount }, (_, i) => ({ namespace: `ns-${i % namespaceCount}`, service: `svc-${i}` }));
  try {
    progress(`destination: writing ${serviceCount} files (${serviceCount * perService} workloads)`);
    for (const { namespace, service } of names) await writeFile(path.join(dir, `${service}.yaml`), serviceFile(namespace, service, perService));

    // Every state message, as any bus subscriber sees it.
    const seen = new Set<string>();
    let onMessage: ((subject: string, data: Uint8Array) => void) | undefined;
    const sub = nc.subscribe(subjects.allState, {
      callback: (_err, msg) => {
        seen.add(msg.subject);
        onMessage?.(msg.subject, msg.data);
      },
    });
    const expected = serviceCount * 2;

    progress('destination: full load');
    const started = performance.now();
    const config = envToConfig({
      NATS_URL: nats.url,
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      MESHBUS_LOG_LEVEL: 'warn',
    });
    const logger = silentLogger();
    const dst = createDestinationService(config, { logger, source: folderResourceSource(dir, logger, { quietMs, debounceMs: 1 }) });
    await dst.start();
    while (seen.size < expected) {
      if (performance.now() - started > 600_000) throw new Error(`full load: only ${seen.size} of ${expected} subjects published after 10 minutes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const fullLoadMs = performance.now() - started;
    progress(`destination: full load ${fullLoadMs.toFixed(0)} ms; ${changeCount} changes`);

    // Let the initial work settle (the first rescan) before measuring.
    await new Promise((r) => setTimeout(r, 6000));
    const latencies: number[] = [];
    const decoder = new TextDecoder();
    for (let round = 0; round < changeCount + 3; round++) {
      const target = names[(round * 7919) % serviceCount]!;
      const address = `10.250.${round >> 8}.${(round & 255) + 1}`;
      const subject = subjects.endpoints(target.namespace, target.service, 80);
      const arrived = new Promise<number>((resolve) => {
        onMessage = (s, data) => {
          if (s === subject && decoder.decode(data).includes(`"${address}"`)) resolve(performance.now());
        };
      });
      const t0 = performance.now();
      await writeFile(path.join(dir, `${target.service}.yaml`), serviceFile(target.namespace, target.service, perService, { index: round % perService, address }));
      const t1 = await Promise.race([arrived, new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), 10_000))]);
      // Three warm-up changes.
      if (round >= 3) latencies.push(t1 - t0);
      await new Promise((r) => setTimeout(r, 50 + quietMs));
    }
    onMessage = undefined;
    sub.unsubscribe();
    await dst[Symbol.asyncDispose]();
    const change = summarize(latencies);
    return {
      services: serviceCount,
      workloads: serviceCount * perService,
      files: serviceCount,
      quietMs,
      fullLoadMs,
      change,
      format() {
        const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'never');
        return [
          `destination: ${serviceCount} services, ${serviceCount * perService} workloads in ${serviceCount} files (quiet period ${quietMs} ms)`,
          `  full load (start -> all ${expected} endpoint sets and profiles on the bus)  ${(fullLoadMs / 1000).toFixed(1)} s`,
          `  one workload's address changed in its file -> new endpoint set from the bus, ${change.count} changes:`,
          `    p50 ${ms(change.p50)}   p99 ${ms(change.p99)}   max ${ms(change.max)}   (target p99 < ${DESTINATION_CHANGE_TARGET_MS} ms${quietMs > 0 ? ' plus the quiet period' : ''})`,
        ].join('\n');
      },
    };
  } finally {
    await nc.close();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
