export { DerError, DerErrorCode, X509Error, X509ErrorCode } from './errors.js';
export { DerTag, contextTag, describeTag, isConstructed } from './der-tag.js';
export { DerWriter } from './der-writer.js';
export {
  derBitString,
  derBoolean,
  derConstructed,
  derElement,
  derExplicit,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derNull,
  derObjectIdentifier,
  derOctetString,
  derPrintableString,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  derUtcTime,
  derUtf8String,
} from './der-encoder.js';
export {
  DerReader,
  decodeBitString,
  decodeBoolean,
  decodeDer,
  decodeIa5String,
  decodeInteger,
  decodeNull,
  decodeObjectIdentifier,
  decodeOctetAlignedBitString,
  decodeOctetString,
  decodeSmallInteger,
  decodeString,
  decodeTime,
  decodeUnsignedIntegerBytes,
  derChildren,
  derContent,
  derEncoding,
  expectTag,
  readDerElement,
} from './der-decoder.js';
export type { DecodedBitString, DerElement } from './der-decoder.js';
export { Oid } from './oids.js';
export { decodePem, decodePemAll, decodePemBlocks, encodePem } from './pem.js';
export type { PemBlock } from './pem.js';
export { decodeName, encodeCommonName, encodeName, formatName } from './name.js';
export type { DistinguishedName, NameAttribute } from './name.js';
export { decodeGeneralNames, encodeGeneralName, encodeGeneralNames, ipAddressToBytes, ipAddressToText } from './general-name.js';
export type { EncodableGeneralName, GeneralName } from './general-name.js';
export {
  KEY_USAGES,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  decodeExtensions,
  encodeExtension,
  extendedKeyUsageExtension,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
} from './extensions.js';
export type { BasicConstraints, Extension, KeyUsage, KnownExtensions } from './extensions.js';
export {
  ECDSA_WITH_SHA256,
  decodeAlgorithmIdentifier,
  decodeSubjectPublicKeyInfo,
  describePublicKey,
  isEcP256,
  keyIdentifierOf,
  requireEcP256,
  signatureAlgorithmFor,
  subjectPublicKeyInfoOf,
} from './public-key.js';
export type { SignatureAlgorithm, SubjectPublicKeyInfo } from './public-key.js';
export { createCsr, parseCsr, verifyCsrSignature } from './csr.js';
export type { CertificationRequest, CsrOptions } from './csr.js';
export { encodeSerialNumber, parseCertificate, signCertificate } from './certificate.js';
export type { CertificateFields, DecodedCertificate } from './certificate.js';
export {
  LeafCertificateSigner,
  createIntermediateCaCertificate,
  createLeafCertificate,
  createRootCaCertificate,
} from './certificate-profiles.js';
export type {
  IntermediateCaCertificateOptions,
  IssuerCredentials,
  LeafCertificateFields,
  LeafCertificateOptions,
  RootCaCertificateOptions,
  ValidityPeriod,
} from './certificate-profiles.js';
export { randomSerialNumber, serialNumberToHex } from './serial-number.js';
