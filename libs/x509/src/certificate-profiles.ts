import { createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { X509Error, X509ErrorCode } from './errors.js';
import { derBoolean, derExplicit, derInteger, derObjectIdentifier } from './der-encoder.js';
import { DerTag, contextTag } from './der-tag.js';
import { DerWriter } from './der-writer.js';
import { encodeSerialNumber, parseCertificate, signCertificate } from './certificate.js';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  encodeExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  subjectKeyIdentifierExtension,
} from './extensions.js';
import type { Extension } from './extensions.js';
import { encodeCommonName } from './name.js';
import { Oid } from './oids.js';
import { keyIdentifierOf, signatureAlgorithmFor, subjectPublicKeyInfoOf } from './public-key.js';
import type { SignatureAlgorithm, SubjectPublicKeyInfo } from './public-key.js';
import { randomSerialNumber } from './serial-number.js';

/** A CA certificate and the private key of its subject, which signs what it issues. */
export interface IssuerCredentials {
  readonly certificateDer: Uint8Array;
  readonly privateKey: KeyObject;
}

/** The period a certificate is valid in; both ends are truncated to whole seconds when encoded. */
export interface ValidityPeriod {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Options of {@link createRootCaCertificate}. */
export interface RootCaCertificateOptions {
  readonly commonName: string;
  /** The CA's key; the certificate certifies its public half and is signed by it. */
  readonly privateKey: KeyObject;
  readonly validity: ValidityPeriod;
  /** basicConstraints pathLenConstraint; @default unlimited */
  readonly pathLen?: number;
  /** @default a random positive 128-bit serial */
  readonly serialNumber?: Uint8Array;
}

/** Options of {@link createIntermediateCaCertificate}. */
export interface IntermediateCaCertificateOptions {
  readonly commonName: string;
  /** The intermediate's public key (a private key gives its public half). */
  readonly publicKey: KeyObject;
  readonly issuer: IssuerCredentials;
  readonly validity: ValidityPeriod;
  /** basicConstraints pathLenConstraint; @default unlimited */
  readonly pathLen?: number;
  /** @default a random positive 128-bit serial */
  readonly serialNumber?: Uint8Array;
}

const CA_KEY_USAGE = keyUsageExtension(['keyCertSign', 'cRLSign']);

function caExtensions(subjectKeyId: Uint8Array, authorityKeyId: Uint8Array, pathLen: number | undefined): Extension[] {
  return [
    basicConstraintsExtension(pathLen === undefined ? { ca: true } : { ca: true, pathLen }),
    CA_KEY_USAGE,
    subjectKeyIdentifierExtension(subjectKeyId),
    authorityKeyIdentifierExtension(authorityKeyId),
  ];
}

/** The key identifier an issuer's certificate advertises, or the one RFC 5280 method (1) derives. */
function issuerKeyIdentifier(issuer: { subjectKeyIdentifier?: Uint8Array; subjectPublicKeyInfo: SubjectPublicKeyInfo }): Uint8Array {
  return issuer.subjectKeyIdentifier ?? keyIdentifierOf(issuer.subjectPublicKeyInfo);
}

function checkPathLen(pathLen: number | undefined): void {
  if (pathLen !== undefined && (!Number.isInteger(pathLen) || pathLen < 0)) {
    throw new X509Error(X509ErrorCode.InvalidArgument, `pathLen must be a non-negative integer, got ${pathLen}`);
  }
}

/** A self-signed root CA certificate: basicConstraints CA (critical), keyUsage keyCertSign+cRLSign (critical), SKI, AKI. */
export function createRootCaCertificate(options: RootCaCertificateOptions): Uint8Array {
  checkPathLen(options.pathLen);
  const spki = subjectPublicKeyInfoOf(options.privateKey);
  const name = encodeCommonName(options.commonName);
  const keyId = keyIdentifierOf(spki);
  return signCertificate(
    {
      serialNumber: options.serialNumber ?? randomSerialNumber(),
      issuer: name,
      subject: name,
      notBefore: options.validity.notBefore,
      notAfter: options.validity.notAfter,
      subjectPublicKeyInfo: spki.der,
      extensions: caExtensions(keyId, keyId, options.pathLen),
    },
    options.privateKey,
  );
}

/** An intermediate CA certificate signed by `issuer`, with the same extensions as a root. */
export function createIntermediateCaCertificate(options: IntermediateCaCertificateOptions): Uint8Array {
  checkPathLen(options.pathLen);
  const issuerCertificate = parseCertificate(options.issuer.certificateDer);
  const publicKey = options.publicKey.type === 'private' ? createPublicKey(options.publicKey) : options.publicKey;
  const spki = subjectPublicKeyInfoOf(publicKey);
  return signCertificate(
    {
      serialNumber: options.serialNumber ?? randomSerialNumber(),
      issuer: issuerCertificate.subject.der,
      subject: encodeCommonName(options.commonName),
      notBefore: options.validity.notBefore,
      notAfter: options.validity.notAfter,
      subjectPublicKeyInfo: spki.der,
      extensions: caExtensions(keyIdentifierOf(spki), issuerKeyIdentifier(issuerCertificate), options.pathLen),
    },
    options.issuer.privateKey,
  );
}

/** The per-certificate fields of a leaf made by {@link LeafCertificateSigner}. */
export interface LeafCertificateFields {
  /** The identity, written as the only subjectAltName dNSName. */
  readonly dnsName: string;
  readonly subjectPublicKeyInfo: SubjectPublicKeyInfo;
  readonly validity: ValidityPeriod;
  /** Subject commonName; when absent the subject is empty and subjectAltName is critical. */
  readonly commonName?: string;
  /** @default a random positive 128-bit serial */
  readonly serialNumber?: Uint8Array;
}

const LEAF_BASIC_CONSTRAINTS = encodeExtension(basicConstraintsExtension({ ca: false }));
const LEAF_KEY_USAGE = encodeExtension(keyUsageExtension(['digitalSignature', 'keyEncipherment']));
const LEAF_EXTENDED_KEY_USAGE = encodeExtension(extendedKeyUsageExtension([Oid.serverAuth, Oid.clientAuth]));
const EMPTY_NAME = encodeCommonName(undefined);
const VERSION_3 = derExplicit(0, derInteger(2));
const SUBJECT_KEY_IDENTIFIER_OID = derObjectIdentifier(Oid.subjectKeyIdentifier);
const SUBJECT_ALT_NAME_OID = derObjectIdentifier(Oid.subjectAltName);
const CRITICAL = derBoolean(true);
const NO_UNUSED_BITS = Uint8Array.of(0);
const DNS_NAME_TAG = contextTag(2, false);

/** Writes an Extension whose extnValue content `writeValue` writes. */
function writeExtension(writer: DerWriter, encodedOid: Uint8Array, critical: boolean, writeValue: (value: DerWriter) => void): void {
  writer.begin(DerTag.Sequence).raw(encodedOid);
  if (critical) writer.raw(CRITICAL);
  writer.begin(DerTag.OctetString);
  writeValue(writer);
  writer.end().end();
}

/**
 * Signs leaf (end-entity) certificates for one issuer. Everything that does not change between
 * leaves (issuer name, algorithm, authorityKeyIdentifier, fixed extensions) is encoded once here.
 *
 * Leaf profile: v3; basicConstraints CA:FALSE (critical); keyUsage digitalSignature+keyEncipherment
 * (critical); extKeyUsage serverAuth+clientAuth; subjectKeyIdentifier; authorityKeyIdentifier;
 * subjectAltName with the one dNSName (critical when the subject is empty).
 */
export class LeafCertificateSigner {
  private readonly issuerName: Uint8Array;
  private readonly authorityKeyIdentifier: Uint8Array;
  private readonly algorithm: SignatureAlgorithm;
  private readonly privateKey: KeyObject;
  /** Reused by every {@link sign} call (which runs start to end without yielding). */
  private readonly writer = new DerWriter(1024);

  constructor(issuer: IssuerCredentials) {
    const issuerCertificate = parseCertificate(issuer.certificateDer);
    this.issuerName = issuerCertificate.subject.der;
    this.authorityKeyIdentifier = encodeExtension(authorityKeyIdentifierExtension(issuerKeyIdentifier(issuerCertificate)));
    this.algorithm = signatureAlgorithmFor(issuer.privateKey);
    this.privateKey = issuer.privateKey;
  }

  sign(leaf: LeafCertificateFields): Uint8Array {
    const { notBefore, notAfter } = leaf.validity;
    if (!(notAfter.getTime() > notBefore.getTime())) {
      throw new X509Error(X509ErrorCode.InvalidArgument, 'notAfter must be later than notBefore');
    }
    if (leaf.dnsName.length === 0) throw new X509Error(X509ErrorCode.InvalidArgument, 'dnsName must not be empty');
    const serialNumber = encodeSerialNumber(leaf.serialNumber ?? randomSerialNumber());
    const subjectIsEmpty = leaf.commonName === undefined;

    // One writer for the whole certificate: the TBSCertificate is signed where it was written, and
    // the certificate is copied out once.
    const writer = this.writer.reset().begin(DerTag.Sequence);
    const tbsStart = writer.length;
    writer.begin(DerTag.Sequence);
    writer.raw(VERSION_3).raw(serialNumber).raw(this.algorithm.encoded).raw(this.issuerName);
    writer.begin(DerTag.Sequence).time(notBefore).time(notAfter).end();
    writer.raw(subjectIsEmpty ? EMPTY_NAME : encodeCommonName(leaf.commonName));
    writer.raw(leaf.subjectPublicKeyInfo.der);
    writer.begin(contextTag(3, true)).begin(DerTag.Sequence);
    writer.raw(LEAF_BASIC_CONSTRAINTS).raw(LEAF_KEY_USAGE).raw(LEAF_EXTENDED_KEY_USAGE);
    writeExtension(writer, SUBJECT_KEY_IDENTIFIER_OID, false, (value) =>
      value.primitive(DerTag.OctetString, keyIdentifierOf(leaf.subjectPublicKeyInfo)),
    );
    writer.raw(this.authorityKeyIdentifier);
    writeExtension(writer, SUBJECT_ALT_NAME_OID, subjectIsEmpty, (value) =>
      value.begin(DerTag.Sequence).ascii(DNS_NAME_TAG, leaf.dnsName).end(),
    );
    writer.end().end().end();

    const signature = sign(this.algorithm.digest, writer.written(tbsStart), this.privateKey);
    return writer.raw(this.algorithm.encoded).begin(DerTag.BitString).raw(NO_UNUSED_BITS).raw(signature).end().end().finish();
  }
}

/** Options of {@link createLeafCertificate}. */
export interface LeafCertificateOptions extends Omit<LeafCertificateFields, 'subjectPublicKeyInfo'> {
  /** The leaf's public key (a private key gives its public half). */
  readonly publicKey: KeyObject;
  readonly issuer: IssuerCredentials;
}

/** One leaf certificate; to issue many for the same issuer, keep a {@link LeafCertificateSigner}. */
export function createLeafCertificate(options: LeafCertificateOptions): Uint8Array {
  const { publicKey, issuer, ...fields } = options;
  return new LeafCertificateSigner(issuer).sign({ ...fields, subjectPublicKeyInfo: subjectPublicKeyInfoOf(publicKey) });
}
