import { X509Certificate } from 'node:crypto';
import { decodePemAll, parseCertificate, type KeyUsage } from '@meshbus/x509';

const DAY = 86_400_000;

/** One certificate of a PEM bundle, with what the checks look at. */
export interface CertificateFacts {
  readonly x509: X509Certificate;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly keyUsage: readonly KeyUsage[] | undefined;
}

/** At least one certificate, in the order of the PEM text. */
export type CertificateBundle = [CertificateFacts, ...CertificateFacts[]];

/** Every certificate of a PEM text; throws naming `what` when there is none or one is malformed. */
export function parseCertificateBundle(pem: string, what: string): CertificateBundle {
  let ders: Uint8Array[];
  try {
    ders = decodePemAll(pem, 'CERTIFICATE');
  } catch (error) {
    throw new Error(`${what} holds no PEM certificate (${(error as Error).message})`);
  }
  const bundle = ders.map((der, i): CertificateFacts => {
    try {
      const decoded = parseCertificate(der);
      const x509 = new X509Certificate(der);
      return {
        x509,
        subject: x509.subject.replace(/\n/g, ', '),
        notBefore: decoded.notBefore,
        notAfter: decoded.notAfter,
        isCa: decoded.basicConstraints?.ca === true,
        keyUsage: decoded.keyUsage,
      };
    } catch (error) {
      throw new Error(`certificate ${i + 1} of ${what} is malformed: ${(error as Error).message}`);
    }
  });
  // decodePemAll returned at least one block.
  return bundle as CertificateBundle;
}

/** How far a certificate is from expiry, against a warning threshold. */
export type Expiry =
  | { readonly state: 'valid'; readonly daysLeft: number }
  | { readonly state: 'expiring'; readonly daysLeft: number }
  | { readonly state: 'expired' }
  | { readonly state: 'not-yet-valid' };

export function expiryOf(cert: Pick<CertificateFacts, 'notBefore' | 'notAfter'>, now: Date, warnWithinDays: number): Expiry {
  if (now < cert.notBefore) return { state: 'not-yet-valid' };
  if (now >= cert.notAfter) return { state: 'expired' };
  const daysLeft = Math.floor((cert.notAfter.getTime() - now.getTime()) / DAY);
  return cert.notAfter.getTime() - now.getTime() < warnWithinDays * DAY ? { state: 'expiring', daysLeft } : { state: 'valid', daysLeft };
}

/** `expired on 2026-01-02T00:00:00.000Z`, `expires in 3 days (…)` and so on, for hints. */
export function describeExpiry(cert: CertificateFacts, expiry: Expiry): string {
  switch (expiry.state) {
    case 'expired':
      return `${cert.subject} expired on ${cert.notAfter.toISOString()}`;
    case 'not-yet-valid':
      return `${cert.subject} is not valid before ${cert.notBefore.toISOString()} (is the clock right?)`;
    case 'expiring':
    case 'valid':
      return `${cert.subject} expires in ${expiry.daysLeft} day${expiry.daysLeft === 1 ? '' : 's'} (${cert.notAfter.toISOString()})`;
  }
}

/** The certificate of `candidates` that issued and signed `cert`, if any. */
export function issuerOf(cert: CertificateFacts, candidates: readonly CertificateFacts[]): CertificateFacts | undefined {
  return candidates.find((c) => cert.x509.checkIssued(c.x509) && cert.x509.verify(c.x509.publicKey));
}

/** Whether the certificate may sign certificates: a CA (basicConstraints) whose keyUsage includes keyCertSign. */
export function canSignCertificates(cert: CertificateFacts): boolean {
  return cert.isCa && cert.keyUsage?.includes('keyCertSign') === true;
}

/** Whether `cert` chains, through any of `intermediates`, to a certificate signed by one of `roots`. */
export function chainsTo(cert: CertificateFacts, intermediates: readonly CertificateFacts[], roots: readonly CertificateFacts[]): boolean {
  let current = cert;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (issuerOf(current, roots)) return true;
    const next = issuerOf(current, intermediates.filter((c) => c !== current));
    if (!next) return false;
    current = next;
  }
  return false;
}
