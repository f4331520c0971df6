import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  createIntermediateCaCertificate,
  createRootCaCertificate,
  decodePem,
  encodePem,
  parseCertificate,
} from '@meshbus/x509';
import type { ValidityPeriod } from '@meshbus/x509';

/** A CA certificate and its private key, both PEM. */
export interface TrustMaterial {
  /** One CERTIFICATE block. */
  readonly certificatePem: string;
  /** PKCS#8 `PRIVATE KEY` block. */
  readonly privateKeyPem: string;
}

/** Options of {@link createTrustAnchor}. */
export interface TrustAnchorOptions {
  /** Subject CN, such as `root.meshbus.cluster.local`. */
  readonly commonName: string;
  readonly validity: ValidityPeriod;
  /** Most intermediate CAs allowed between the anchor and an issuer of leaves. @default unlimited */
  readonly pathLen?: number;
}

/** Options of {@link createIssuer}. */
export interface IssuerOptions {
  /** The anchor that signs the issuer. */
  readonly anchor: TrustMaterial;
  /** Subject CN, such as `identity.meshbus.cluster.local`. */
  readonly commonName: string;
  /** Capped at the anchor's notAfter, so the issuer never outlives what it chains to. */
  readonly validity: ValidityPeriod;
}

function newP256Key(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function pkcs8Pem(privateKey: KeyObject): string {
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A new ECDSA P-256 self-signed root CA (trust anchor) and its key. */
export function createTrustAnchor(options: TrustAnchorOptions): TrustMaterial {
  const privateKey = newP256Key();
  const certificateDer = createRootCaCertificate({
    commonName: options.commonName,
    privateKey,
    validity: options.validity,
    ...(options.pathLen === undefined ? {} : { pathLen: options.pathLen }),
  });
  return { certificatePem: encodePem('CERTIFICATE', certificateDer), privateKeyPem: pkcs8Pem(privateKey) };
}

/**
 * A new ECDSA P-256 issuer CA signed by `anchor`, and its key. The issuer signs only leaves
 * (pathLen 0).
 */
export function createIssuer(options: IssuerOptions): TrustMaterial {
  const anchorDer = decodePem(options.anchor.certificatePem, 'CERTIFICATE');
  const anchorNotAfter = parseCertificate(anchorDer).notAfter;
  const notAfter = options.validity.notAfter.getTime() > anchorNotAfter.getTime() ? anchorNotAfter : options.validity.notAfter;
  const privateKey = newP256Key();
  const certificateDer = createIntermediateCaCertificate({
    commonName: options.commonName,
    publicKey: privateKey,
    issuer: { certificateDer: anchorDer, privateKey: createPrivateKey(options.anchor.privateKeyPem) },
    validity: { notBefore: options.validity.notBefore, notAfter },
    pathLen: 0,
  });
  return { certificatePem: encodePem('CERTIFICATE', certificateDer), privateKeyPem: pkcs8Pem(privateKey) };
}
