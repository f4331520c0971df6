import { Counter, Gauge, Histogram, type Registry } from '@meshbus/runtime';
import type { CertificateAuthority } from '@meshbus/trust';

/** The identity service's Prometheus metrics. */
export interface IdentityMetrics {
  /** Certificate requests answered, by result: `ok` or the error code. */
  readonly certificates: Counter<'result'>;
  /** Time spent checking a CSR and signing the leaf. */
  readonly signingSeconds: Histogram;
  /** Trust material reloads, by result: `loaded` or the refusal code. */
  readonly issuerReloads: Counter<'result'>;
}

/** Registers the identity metrics; the issuer expiry gauge reads `issuer()` at every scrape. */
export function registerIdentityMetrics(registry: Registry, issuer: () => CertificateAuthority | undefined, now: () => Date = () => new Date()): IdentityMetrics {
  new Gauge({
    name: 'meshbus_identity_issuer_expiry_seconds',
    help: "Seconds until the loaded issuer certificate's notAfter (negative once expired); absent without an issuer.",
    registers: [registry],
    collect(this: Gauge) {
      const authority = issuer();
      if (authority) this.set((authority.issuerNotAfter.getTime() - now().getTime()) / 1000);
      else this.reset();
    },
  });
  return {
    certificates: new Counter({
      name: 'meshbus_identity_certificates_issued_total',
      help: 'Certificate requests answered, by result: ok, or the error code of the refusal.',
      labelNames: ['result'],
      registers: [registry],
    }),
    signingSeconds: new Histogram({
      name: 'meshbus_identity_signing_duration_seconds',
      help: 'Time to check a CSR and sign its leaf certificate.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    issuerReloads: new Counter({
      name: 'meshbus_identity_issuer_reloads_total',
      help: 'Trust material read from the issuer source and applied, by result: loaded, or the refusal code.',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
