/*
 * Process, build and identity metrics of the proxy, with the Linkerd proxy's
 * names where it has them.
 */
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

export interface ProcessMetricsOptions {
  /** The proxy's version, in `proxy_build_info`. */
  readonly version: string;
}

/**
 * Registers the standard `process_*` metrics (CPU, memory, file descriptors,
 * start time), Node.js runtime metrics (`nodejs_*`, without the gauges
 * prom-client names `*_total`, which Prometheus reads as counters) and
 * `proxy_build_info`.
 */
export function registerProcessMetrics(registry: Registry, options: ProcessMetricsOptions): void {
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters; the same values are in nodejs_active_handles and the like.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const info = new Gauge({
    name: 'proxy_build_info',
    help: 'Constant 1, labelled with the version of the proxy and of Node.js.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  });
  info.set({ version: options.version, node_version: process.versions.node }, 1);
}

/** The proxy's mesh identity certificate: when it expires and how often it was obtained. */
export class IdentityMetrics {
  private readonly expiration: Gauge;
  private readonly refreshes: Counter;

  constructor(registry: Registry) {
    this.expiration = new Gauge({
      name: 'identity_cert_expiration_timestamp_seconds',
      help: 'When the current identity certificate expires, in seconds since the Unix epoch.',
      registers: [registry],
    });
    // Linkerd's name, without the `_total` suffix counters usually have.
    this.refreshes = new Counter({
      name: 'identity_cert_refresh_count',
      help: 'Identity certificates obtained from the Identity service.',
      registers: [registry],
    });
  }

  /** A certificate was obtained (the first or a renewal); `notAfter` is its expiry. */
  certificateObtained(notAfter: Date): void {
    this.expiration.set(Math.floor(notAfter.getTime() / 1000));
    this.refreshes.inc();
  }
}
