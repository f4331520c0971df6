import { createHash } from 'node:crypto';
import { errorMessage } from '@meshbus/runtime';
import { CertificateAuthority } from '@meshbus/trust';
import { IdentityError } from '@meshbus/trust';
import type { IssuerMaterial, IssuerSource } from './issuer-source.js';

/** Code of a refusal because the material could not be read at all. */
export const ISSUER_UNREADABLE = 'IssuerUnreadable';

/** A refusal of trust material: what was wrong, with a stable code. */
export interface IssuerRefusal {
  /** An `IdentityErrorCode` (IssuerNotTrusted, IssuerKeyMismatch...) or {@link ISSUER_UNREADABLE}. */
  readonly code: string;
  readonly reason: string;
  readonly source: string;
}

/** A newly loaded issuer. */
export interface IssuerChange {
  readonly authority: CertificateAuthority;
  /** The authority it replaces; undefined on the first load. */
  readonly previous: CertificateAuthority | undefined;
  readonly source: string;
}

/** Options of {@link IssuerReloader}. */
export interface IssuerReloaderOptions {
  readonly source: IssuerSource;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Called after an issuer was validated and swapped in. */
  onLoaded(change: IssuerChange): void;
  /** Called when material was refused; the current issuer, if any, stays. */
  onRefused(refusal: IssuerRefusal): void;
}

/**
 * Keeps the current issuer: validates every new material an {@link IssuerSource} reports with
 * `CertificateAuthority.fromPem` and swaps it in, or refuses it and keeps the one it has.
 * Material seen before is not reloaded, and a refusal is reported once until its reason changes.
 */
export class IssuerReloader {
  private authority: CertificateAuthority | undefined;
  private loadedDigest: string | undefined;
  private lastRefusal: string | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: IssuerReloaderOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The issuer to sign with, if one was loaded. */
  get current(): CertificateAuthority | undefined {
    return this.authority;
  }

  /** Where the material comes from. */
  get source(): string {
    return this.options.source.description;
  }

  /** Starts the source; resolves once its first reading was applied (loaded or refused). */
  async start(): Promise<void> {
    await this.options.source.start({
      material: (material) => this.apply(material),
      unreadable: (reason) => this.refuse({ code: ISSUER_UNREADABLE, reason, source: this.source }),
    });
  }

  async stop(): Promise<void> {
    await this.options.source.stop();
  }

  /** Validates `material` and swaps it in, or refuses it. */
  apply(material: IssuerMaterial): void {
    const digest = digestOf(material);
    if (digest === this.loadedDigest) {
      this.lastRefusal = undefined;
      return;
    }
    let authority: CertificateAuthority;
    try {
      authority = CertificateAuthority.fromPem({ ...material, now: this.now() });
    } catch (error) {
      const code = error instanceof IdentityError ? error.code : 'MalformedIssuer';
      this.refuse({ code, reason: errorMessage(error), source: this.source });
      return;
    }
    const previous = this.authority;
    this.authority = authority;
    this.loadedDigest = digest;
    this.lastRefusal = undefined;
    this.options.onLoaded({ authority, previous, source: this.source });
  }

  private refuse(refusal: IssuerRefusal): void {
    const key = `${refusal.code}\n${refusal.reason}`;
    if (key === this.lastRefusal) return;
    this.lastRefusal = key;
    this.options.onRefused(refusal);
  }
}

function digestOf(material: IssuerMaterial): string {
  const hash = createHash('sha256');
  for (const part of [material.trustAnchorsPem, material.issuerCertificatePem, material.issuerKeyPem]) {
    hash.update(String(part.length)).update(':').update(part);
  }
  return hash.digest('hex');
}
