import { Counter, Gauge, type Registry } from '@meshbus/runtime';
import type { ControlApi, ReconnectReason, WatchObserver } from './watch-stream.js';

/** What the certificate gauges read: the certificate held now. */
export interface CertificateSource {
  readonly current: { readonly validUntil: Date } | undefined;
}

/**
 * The control-plane metrics of the proxy, registered in the registry given:
 * - `control_streams{api,gateway}`: live watch streams on each gateway replica;
 * - `control_stream_reconnects_total{api,reason}`: streams replaced (`error`, `ended`, `idle`,
 *   `lifetime`, `initial-timeout`);
 * - `control_stale_watches{api}`: watches serving their last state without a live stream;
 * - `identity_cert_expiry_seconds`: seconds left on the certificate held, 0 before the first
 *   (the expiry time itself, `identity_cert_expiration_timestamp_seconds`, is the metrics
 *   library's IdentityMetrics).
 */
export class ControlMetrics implements WatchObserver {
  private readonly streams: Gauge<'api' | 'gateway'>;
  private readonly reconnects: Counter<'api' | 'reason'>;
  private readonly staleWatches: Gauge<'api'>;

  constructor(registry: Registry, options: { certificate?: CertificateSource; now?: () => number } = {}) {
    const registers = [registry];
    this.streams = new Gauge({ name: 'control_streams', help: 'Live watch streams to the control plane, by gateway replica.', labelNames: ['api', 'gateway'], registers });
    this.reconnects = new Counter({ name: 'control_stream_reconnects_total', help: 'Watch streams to the control plane that were closed and opened again, by reason.', labelNames: ['api', 'reason'], registers });
    this.staleWatches = new Gauge({ name: 'control_stale_watches', help: 'Watches serving their last state while they have no live stream.', labelNames: ['api'], registers });
    const certificate = options.certificate;
    const now = options.now ?? Date.now;
    if (certificate !== undefined) {
      new Gauge({
        name: 'identity_cert_expiry_seconds',
        help: "Seconds until the proxy's identity certificate expires.",
        registers,
        collect() {
          this.reset();
          const held = certificate.current;
          if (held !== undefined) this.set(Math.max(0, (held.validUntil.getTime() - now()) / 1000));
        },
      });
    }
  }

  connected(api: ControlApi, gateway: string, delta: 1 | -1): void {
    this.streams.inc({ api, gateway }, delta);
  }

  reconnect(api: ControlApi, reason: ReconnectReason): void {
    this.reconnects.inc({ api, reason });
  }

  stale(api: ControlApi, delta: 1 | -1): void {
    this.staleWatches.inc({ api }, delta);
  }
}
