import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  LeafCertificateSigner,
  X509Error,
  X509ErrorCode,
  decodePemAll,
  describePublicKey,
  formatName,
  isEcP256,
  parseCertificate,
  parseCsr,
  randomSerialNumber,
  serialNumberToHex,
  verifyCsrSignature,
} from '@meshbus/x509';
import type { CertificationRequest, DecodedCertificate } from '@meshbus/x509';
import { IdentityError, IdentityErrorCode } from './identity-error.js';
import { isDnsSubdomain } from '@meshbus/core';

/** @default 24 hours */
export const DEFAULT_LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000;
/** @default 20 seconds */
export const DEFAULT_CLOCK_SKEW_MS = 20 * 1000;

/** What a {@link CertificateAuthority} is built from. */
export interface CertificateAuthorityOptions {
  /** PEM with one or more CERTIFICATE blocks: the roots every mesh certificate must chain to. */
  readonly trustAnchorsPem: string;
  /**
   * PEM CERTIFICATE blocks: the issuer certificate first, then any intermediates leading toward a
   * trust anchor. Including the anchor itself is allowed; it is not sent to proxies.
   */
  readonly issuerCertificatePem: string;
  /** The issuer's private key, PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`). */
  readonly issuerKeyPem: string;
  /** The time the issuer must be valid at. @default new Date() */
  readonly now?: Date;
}

/** A request to certify a workload key for an identity. */
export interface IssueRequest {
  /** The identity to certify, already checked to be the caller's (see `assertEntitledIdentity`). */
  readonly identity: string;
  /** The DER PKCS#10 request made by the workload's proxy. */
  readonly csrDer: Uint8Array;
  /** How long the leaf is valid for, before skew. @default 24 hours */
  readonly lifetimeMs?: number;
  /** Allowance for clocks that disagree: subtracted from notBefore and added to notAfter. @default 20 seconds */
  readonly clockSkewMs?: number;
  /** @default new Date() */
  readonly now?: Date;
}

/** A signed leaf and what a proxy needs with it. */
export interface IssuedCertificate {
  readonly leafDer: Uint8Array;
  /** The issuer chain, issuer first, without the trust anchor. Shared between results; do not modify. */
  readonly intermediatesDer: readonly Uint8Array[];
  /** The leaf's notAfter. */
  readonly validUntil: Date;
  /** The leaf's serial number, lowercase hex. */
  readonly serial: string;
}

interface ChainCertificate {
  readonly decoded: DecodedCertificate;
  readonly x509: X509Certificate;
}

function loadCertificates(pem: string, code: IdentityErrorCode, what: string): ChainCertificate[] {
  try {
    return decodePemAll(pem, 'CERTIFICATE').map((der) => ({
      decoded: parseCertificate(der),
      x509: new X509Certificate(der),
    }));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new IdentityError(code, `${what} could not be read: ${reason}`, { cause: error });
  }
}

function describeCertificate(certificate: ChainCertificate): string {
  return `certificate "${formatName(certificate.decoded.subject)}"`;
}

function checkValidAt(certificate: ChainCertificate, role: string, now: Date): void {
  const { notBefore, notAfter } = certificate.decoded;
  if (now.getTime() < notBefore.getTime()) {
    throw new IdentityError(
      IdentityErrorCode.IssuerNotYetValid,
      `${role} ${describeCertificate(certificate)} is not valid until ${notBefore.toISOString()} (now ${now.toISOString()}); check the clock or wait`,
    );
  }
  if (now.getTime() >= notAfter.getTime()) {
    throw new IdentityError(
      IdentityErrorCode.IssuerExpired,
      `${role} ${describeCertificate(certificate)} expired at ${notAfter.toISOString()}; create and install a new one`,
    );
  }
}

function checkMaySign(certificate: ChainCertificate, role: string, requireKeyUsage: boolean): void {
  const { basicConstraints, keyUsage } = certificate.decoded;
  if (basicConstraints?.ca !== true) {
    throw new IdentityError(
      IdentityErrorCode.IssuerNotCa,
      `${role} ${describeCertificate(certificate)} is not a CA (it needs basicConstraints CA:TRUE)`,
    );
  }
  const missingKeyUsage = keyUsage === undefined ? requireKeyUsage : !keyUsage.includes('keyCertSign');
  if (missingKeyUsage) {
    throw new IdentityError(
      IdentityErrorCode.IssuerNotCa,
      `${role} ${describeCertificate(certificate)} may not sign certificates (it needs keyUsage keyCertSign)`,
    );
  }
}

function issued(child: ChainCertificate, parent: ChainCertificate): boolean {
  return child.x509.checkIssued(parent.x509) && child.x509.verify(parent.x509.publicKey);
}

function sameCertificate(a: ChainCertificate, b: ChainCertificate): boolean {
  return Buffer.compare(a.x509.raw, b.x509.raw) === 0;
}

/** RFC 5280 pathLenConstraint: a CA may be followed by at most pathLen intermediates (the leaf not counted). */
function checkPathLength(certificate: ChainCertificate, intermediatesBelow: number, role: string): void {
  const pathLen = certificate.decoded.basicConstraints?.pathLen;
  if (pathLen !== undefined && intermediatesBelow > pathLen) {
    throw new IdentityError(
      IdentityErrorCode.IssuerNotTrusted,
      `${role} ${describeCertificate(certificate)} allows ${pathLen} intermediate CA(s) below it, but the chain has ${intermediatesBelow}`,
    );
  }
}

/** The certificates from the issuer up to, not including, the anchor, and the anchor they chain to. */
interface TrustPath {
  readonly belowAnchor: readonly ChainCertificate[];
  readonly anchor: ChainCertificate;
}

/**
 * Walks from the issuer toward the anchors. Each step must be signed by the next certificate of
 * the chain, or by a trust anchor, which ends the walk; a chain certificate that is itself an
 * anchor ends it too.
 */
function findTrustPath(chain: readonly ChainCertificate[], anchors: readonly ChainCertificate[], now: Date): TrustPath {
  const belowAnchor: ChainCertificate[] = [];
  for (let index = 0; index < chain.length; index++) {
    const current = chain[index]!;
    const role = index === 0 ? 'issuer' : 'intermediate';
    const isAnchor = anchors.find((anchor) => sameCertificate(anchor, current));
    if (isAnchor !== undefined) return { belowAnchor, anchor: isAnchor };
    if (index > 0) {
      checkMaySign(current, role, false);
      checkValidAt(current, role, now);
      checkPathLength(current, index - 1, role);
    }
    belowAnchor.push(current);
    const anchor = anchors.find((candidate) => issued(current, candidate));
    if (anchor !== undefined) {
      checkMaySign(anchor, 'trust anchor', false);
      checkValidAt(anchor, 'trust anchor', now);
      checkPathLength(anchor, belowAnchor.length - 1, 'trust anchor');
      return { belowAnchor, anchor };
    }
    const next = chain[index + 1];
    if (next === undefined) {
      throw new IdentityError(
        IdentityErrorCode.IssuerNotTrusted,
        `${role} ${describeCertificate(current)} (issued by "${formatName(current.decoded.issuer)}") is not signed by any trust anchor; ` +
          'install an issuer made from the current trust anchors, or append the missing intermediates to the issuer certificate file',
      );
    }
    if (!issued(current, next)) {
      throw new IdentityError(
        IdentityErrorCode.IssuerNotTrusted,
        `${role} ${describeCertificate(current)} is not signed by the next certificate in the issuer file, ${describeCertificate(next)}; ` +
          'list the issuer first, then each intermediate in order toward the anchor',
      );
    }
  }
  throw new IdentityError(IdentityErrorCode.MalformedIssuer, 'issuer certificate file holds no certificate');
}

function loadIssuerKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new IdentityError(IdentityErrorCode.MalformedIssuer, 'issuer key is not a PEM private key', { cause: error });
  }
}

function isPositiveFinite(value: number): boolean {
  return Number.isFinite(value) && value > 0;
}

function floorToSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function refuseCsr(error: unknown): never {
  if (!(error instanceof X509Error)) throw error;
  switch (error.code) {
    case X509ErrorCode.UnsupportedKey:
      throw new IdentityError(IdentityErrorCode.CsrKeyUnsupported, error.message, { cause: error });
    case X509ErrorCode.SignatureInvalid:
    case X509ErrorCode.UnsupportedSignatureAlgorithm:
      throw new IdentityError(IdentityErrorCode.CsrSignatureInvalid, error.message, { cause: error });
    default:
      throw new IdentityError(IdentityErrorCode.MalformedCsr, error.message, { cause: error });
  }
}

function checkRequestedNames(csr: CertificationRequest, identity: string): void {
  const forbidden = csr.subjectAltNames.filter((name) => name.type !== 'dns');
  if (forbidden.length > 0) {
    const kinds = [...new Set(forbidden.map((name) => (name.type === 'other' ? `GeneralName [${name.tagNumber}]` : name.type)))];
    throw new IdentityError(
      IdentityErrorCode.CsrForbiddenSan,
      `CSR requests ${kinds.join(', ')} subjectAltName entries; only one DNS name, the identity, is allowed`,
    );
  }
  const dnsNames = csr.subjectAltNames.map((name) => (name.type === 'dns' ? name.value : ''));
  if (dnsNames.length !== 1 || dnsNames[0] !== identity) {
    const found = dnsNames.length === 0 ? 'no DNS name' : `DNS ${dnsNames.join(', ')}`;
    throw new IdentityError(
      IdentityErrorCode.CsrSanMismatch,
      `CSR subjectAltName must be exactly DNS:${identity}, found ${found}`,
    );
  }
  const wrongCommonName = csr.subject.commonNames.find((commonName) => commonName !== identity);
  if (wrongCommonName !== undefined) {
    throw new IdentityError(
      IdentityErrorCode.CsrSubjectMismatch,
      `CSR subject CN ${JSON.stringify(wrongCommonName)} is not the identity ${identity}; leave the subject empty or use CN=${identity}`,
    );
  }
}

/**
 * The mesh certificate authority: a validated issuer that signs workload leaf certificates.
 *
 * Leaves have an empty subject; the identity is their only subjectAltName (a dNSName, critical).
 * The identity can be longer than the 64 characters a commonName may hold, and TLS peers check the
 * subjectAltName only, so a commonName would add nothing reliable.
 */
export class CertificateAuthority {
  /** The trust anchors, DER. */
  readonly trustAnchorsDer: readonly Uint8Array[];
  /** The issuer certificate, DER. */
  readonly issuerCertificateDer: Uint8Array;
  /** The issuer certificate's notBefore. */
  readonly issuerNotBefore: Date;
  /** The issuer certificate's notAfter: when a replacement must be installed. */
  readonly issuerNotAfter: Date;
  /** The earliest notAfter from the issuer up to and including its anchor; no leaf outlives it. */
  readonly chainNotAfter: Date;
  private readonly intermediatesDer: readonly Uint8Array[];
  private readonly signer: LeafCertificateSigner;

  private constructor(
    anchors: readonly ChainCertificate[],
    issuer: ChainCertificate,
    trustPath: TrustPath,
    privateKey: KeyObject,
  ) {
    this.trustAnchorsDer = anchors.map((anchor) => anchor.decoded.der);
    this.issuerCertificateDer = issuer.decoded.der;
    this.issuerNotBefore = issuer.decoded.notBefore;
    this.issuerNotAfter = issuer.decoded.notAfter;
    const expiries = [...trustPath.belowAnchor, trustPath.anchor].map((certificate) => certificate.decoded.notAfter.getTime());
    this.chainNotAfter = new Date(Math.min(...expiries));
    this.intermediatesDer = Object.freeze(trustPath.belowAnchor.map((certificate) => certificate.decoded.der));
    this.signer = new LeafCertificateSigner({ certificateDer: issuer.decoded.der, privateKey });
  }

  /**
   * Validates the issuer and builds the authority. The issuer must be a CA with keyCertSign, hold
   * an ECDSA P-256 key matching `issuerKeyPem`, be valid at `now`, and chain to one of the anchors
   * (through the intermediates that follow it in `issuerCertificatePem`); every certificate on the
   * way must be a valid CA at `now` and respect pathLen constraints. Throws {@link IdentityError}
   * with an issuer code otherwise.
   */
  static fromPem(options: CertificateAuthorityOptions): CertificateAuthority {
    const now = options.now ?? new Date();
    const anchors = loadCertificates(options.trustAnchorsPem, IdentityErrorCode.MalformedTrustAnchors, 'trust anchors');
    const chain = loadCertificates(options.issuerCertificatePem, IdentityErrorCode.MalformedIssuer, 'issuer certificate');
    const privateKey = loadIssuerKey(options.issuerKeyPem);
    const issuer = chain[0]!;

    checkMaySign(issuer, 'issuer', true);
    if (!isEcP256(issuer.decoded.subjectPublicKeyInfo)) {
      throw new IdentityError(
        IdentityErrorCode.UnsupportedIssuerKey,
        `issuer ${describeCertificate(issuer)} has a ${describePublicKey(issuer.decoded.subjectPublicKeyInfo)} key; mesh issuers must use ECDSA P-256`,
      );
    }
    if (!issuer.x509.checkPrivateKey(privateKey)) {
      throw new IdentityError(
        IdentityErrorCode.IssuerKeyMismatch,
        `issuer key does not belong to issuer ${describeCertificate(issuer)}; install the key that was created with it`,
      );
    }
    checkValidAt(issuer, 'issuer', now);
    return new CertificateAuthority(anchors, issuer, findTrustPath(chain, anchors, now), privateKey);
  }

  /**
   * Checks the CSR against the identity and signs a leaf. All work runs on the calling thread; the
   * promise exists because the cheapest public way to load the CSR's key is WebCrypto's.
   * Rejects with {@link IdentityError}:
   * `MalformedRequest`, `MalformedCsr`, `CsrKeyUnsupported`, `CsrSignatureInvalid`,
   * `CsrForbiddenSan`, `CsrSanMismatch`, `CsrSubjectMismatch`, or `IssuerExpired` /
   * `IssuerNotYetValid` if the issuer is not valid at `now`.
   *
   * notBefore is `now - clockSkewMs` (not before the issuer's notBefore); notAfter is
   * `now + lifetimeMs + clockSkewMs`, capped at the issuer's notAfter (or an earlier expiry further
   * up the chain, see {@link chainNotAfter}); both are truncated to whole seconds.
   */
  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const now = request.now ?? new Date();
    const lifetimeMs = request.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    const clockSkewMs = request.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    if (Number.isNaN(now.getTime())) throw new IdentityError(IdentityErrorCode.MalformedRequest, 'now is not a valid date');
    if (!isPositiveFinite(lifetimeMs)) {
      throw new IdentityError(IdentityErrorCode.MalformedRequest, `lifetimeMs must be a positive number, got ${lifetimeMs}`);
    }
    if (!(Number.isFinite(clockSkewMs) && clockSkewMs >= 0)) {
      throw new IdentityError(IdentityErrorCode.MalformedRequest, `clockSkewMs must be zero or positive, got ${clockSkewMs}`);
    }
    if (!isDnsSubdomain(request.identity)) {
      throw new IdentityError(
        IdentityErrorCode.MalformedRequest,
        `identity ${JSON.stringify(request.identity)} is not a lowercase DNS name`,
      );
    }
    const nowMs = now.getTime();
    if (nowMs < this.issuerNotBefore.getTime()) {
      throw new IdentityError(IdentityErrorCode.IssuerNotYetValid, `issuer is not valid until ${this.issuerNotBefore.toISOString()}`);
    }
    if (nowMs >= this.chainNotAfter.getTime()) {
      throw new IdentityError(
        IdentityErrorCode.IssuerExpired,
        `the issuer or a certificate above it expired at ${this.chainNotAfter.toISOString()}`,
      );
    }

    let csr: CertificationRequest;
    try {
      csr = parseCsr(request.csrDer);
      await verifyCsrSignature(csr);
    } catch (error) {
      refuseCsr(error);
    }
    checkRequestedNames(csr, request.identity);

    const notBefore = floorToSecond(Math.max(nowMs - clockSkewMs, this.issuerNotBefore.getTime()));
    const notAfter = floorToSecond(Math.min(nowMs + lifetimeMs + clockSkewMs, this.chainNotAfter.getTime()));
    const serialNumber = randomSerialNumber();
    const leafDer = this.signer.sign({
      dnsName: request.identity,
      subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
      validity: { notBefore, notAfter },
      serialNumber,
    });
    return { leafDer, intermediatesDer: this.intermediatesDer, validUntil: notAfter, serial: serialNumberToHex(serialNumber) };
  }
}
