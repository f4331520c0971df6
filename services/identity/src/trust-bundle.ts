import type { TrustBundle } from '@meshbus/bus-schemas';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { encodePem } from '@meshbus/x509';
import type { CertificateAuthority } from '@meshbus/trust';

/** The trust bundle a certificate authority's anchors make, one PEM block per anchor. */
export function trustBundleOf(authority: CertificateAuthority, trustDomain: string): TrustBundle {
  const anchors = authority.trustAnchorsDer.map((der) => encodePem('CERTIFICATE', der));
  return { trustDomain, anchors: anchors as TrustBundle['anchors'] };
}

/** Whether two bundles say the same: same trust domain, same anchors in the same order. */
export function sameTrustBundle(a: TrustBundle, b: TrustBundle): boolean {
  return a.trustDomain === b.trustDomain && a.anchors.length === b.anchors.length && a.anchors.every((pem, i) => pem === b.anchors[i]);
}

/** Options of {@link TrustBundlePublisher}. */
export interface TrustBundlePublisherOptions {
  /** The bundle on the bus now, if any. */
  readonly current: () => Promise<TrustBundle | undefined>;
  readonly publish: (bundle: TrustBundle) => Promise<void>;
  readonly logger: Logger;
  /** First wait after a failed attempt; waits double up to 30 s. @default 500 */
  readonly retryMs?: number;
}

/**
 * Keeps the bus's trust bundle equal to this replica's: publishes a bundle unless the bus already
 * holds the same one, and retries until it is stored or replaced by a newer bundle.
 */
export class TrustBundlePublisher {
  private desired: TrustBundle | undefined;
  private published: TrustBundle | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: TrustBundlePublisherOptions) {}

  /** Makes `bundle` the one to publish. */
  update(bundle: TrustBundle): void {
    if (this.stopped) return;
    this.desired = bundle;
    this.wake?.();
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once nothing is left to publish (or after stop). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let waitMs = this.options.retryMs ?? 500;
    while (!this.stopped && this.desired && !(this.published && sameTrustBundle(this.published, this.desired))) {
      const bundle = this.desired;
      try {
        const current = await this.options.current();
        if (!current || !sameTrustBundle(current, bundle)) {
          await this.options.publish(bundle);
          this.options.logger.info({ anchors: bundle.anchors.length, trustDomain: bundle.trustDomain }, 'trust bundle published');
        }
        this.published = bundle;
        waitMs = this.options.retryMs ?? 500;
      } catch (error) {
        this.options.logger.warn({ error: errorMessage(error), retryInMs: waitMs }, 'publishing the trust bundle failed; retrying');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        waitMs = Math.min(waitMs * 2, 30_000);
      }
    }
  }
}
