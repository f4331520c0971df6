import { X509Certificate } from 'node:crypto';
import { decodePemAll, parseCertificate } from '@meshbus/x509';
import { UsageError } from '../errors.js';

function names(text: string | undefined): string {
  if (text === undefined || text.trim() === '') return '(empty)';
  return text.split('\n').filter(Boolean).join(', ');
}

function keyDescription(certificate: X509Certificate): string {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      return `ECDSA ${details?.namedCurve === 'prime256v1' ? 'P-256' : details?.namedCurve === 'secp384r1' ? 'P-384' : (details?.namedCurve ?? 'unknown curve')}`;
    case 'rsa':
      return `RSA ${details?.modulusLength ?? '?'} bits`;
    case 'ed25519':
      return 'Ed25519';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

/** `3d 4h`, `5h 12m`, `42s`: how far apart two instants are, roughly. */
export function formatSpan(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function validityNote(notBefore: Date, notAfter: Date, nowMs: number): string {
  if (nowMs < notBefore.getTime()) return `not valid yet, starts in ${formatSpan(notBefore.getTime() - nowMs)}`;
  if (nowMs >= notAfter.getTime()) return `EXPIRED ${formatSpan(nowMs - notAfter.getTime())} ago`;
  return `valid, expires in ${formatSpan(notAfter.getTime() - nowMs)}`;
}

function describeOne(der: Uint8Array, nowMs: number): string[] {
  const certificate = new X509Certificate(der);
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  let constraints = certificate.ca ? 'CA' : 'not a CA';
  let usage: string | undefined;
  try {
    const decoded = parseCertificate(der);
    const pathLen = decoded.basicConstraints?.pathLen;
    if (certificate.ca && pathLen !== undefined) constraints += ` (pathLen ${pathLen})`;
    if (decoded.keyUsage !== undefined) usage = decoded.keyUsage.join(', ');
  } catch {
    // Node could read it, the stricter mesh decoder could not: the basics above still hold.
  }
  const lines = [
    `subject:    ${names(certificate.subject)}`,
    `SAN:        ${certificate.subjectAltName ?? '(none)'}`,
    `issuer:     ${names(certificate.issuer)}`,
    `serial:     ${certificate.serialNumber.toLowerCase()}`,
    `not before: ${notBefore.toISOString()}`,
    `not after:  ${notAfter.toISOString()} (${validityNote(notBefore, notAfter, nowMs)})`,
    `key:        ${keyDescription(certificate)}`,
    `type:       ${constraints}${certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey) ? ', self-signed' : ''}`,
  ];
  if (usage !== undefined) lines.push(`key usage:  ${usage}`);
  lines.push(`sha256:     ${certificate.fingerprint256}`);
  return lines;
}

/**
 * Describes every certificate in a PEM file (or a single DER certificate) for people: subject,
 * subjectAltName, issuer, validity measured against `nowMs`, key and fingerprint. Throws
 * {@link UsageError} when the bytes hold no certificate.
 */
export function describeCertificates(content: Uint8Array, nowMs: number): string {
  const text = Buffer.from(content).toString('latin1');
  let ders: Uint8Array[];
  try {
    ders = text.includes('-----BEGIN') ? decodePemAll(text, 'CERTIFICATE') : [content];
  } catch (error) {
    throw new UsageError(`the file holds no readable certificate: ${(error as Error).message}`);
  }
  const blocks = ders.map((der, i) => {
    let lines: string[];
    try {
      lines = describeOne(der, nowMs);
    } catch (error) {
      throw new UsageError(`certificate ${i + 1} cannot be read: ${(error as Error).message}`);
    }
    const heading = ders.length > 1 ? [`certificate ${i + 1} of ${ders.length}`] : [];
    return [...heading, ...lines.map((line) => (ders.length > 1 ? `  ${line}` : line))].join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}
