/*
 * Who sent a traffic report: the mesh identity of a certificate chain that
 * leads to the trust anchors and whose leaf key signed the report. Never the
 * name a proxy claims. Pure (the clock is a parameter).
 */
import { verify, X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { isDnsLabel } from '@meshbus/core';
import { telemetrySignaturePrefix, type telemetry } from '@meshbus/proxy-api';
import { MeshbusError } from '@meshbus/runtime';

/** A report the gateway does not publish, with the gRPC status the stream ends with. */
export class TelemetryRefused extends MeshbusError {
  override name = 'TelemetryRefused';
  constructor(
    readonly grpcCode: status,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

const invalid = (message: string) => new TelemetryRefused(status.INVALID_ARGUMENT, 'InvalidTelemetryReport', message);
const denied = (message: string) => new TelemetryRefused(status.PERMISSION_DENIED, 'UntrustedTelemetryReport', message);

/** The workload a verified report is for. */
export interface ReportSender {
  /** The identity the leaf certificate names. */
  readonly identity: string;
  readonly namespace: string;
  /** The identity's service account. */
  readonly workload: string;
}

/** The trust the gateway checks reports against: the bus's trust bundle. */
export interface ReportTrust {
  readonly trustDomain: string;
  readonly anchors: readonly X509Certificate[];
}

/** Longest chain accepted: leaf, issuer and a few intermediates. */
const maxChainLength = 5;

function validAt(cert: X509Certificate, nowMs: number): boolean {
  return Date.parse(cert.validFrom) <= nowMs && nowMs <= Date.parse(cert.validTo);
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** The first DNS subjectAltName of a certificate, lowercased. */
function dnsName(cert: X509Certificate): string | undefined {
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) return entry.slice(4).toLowerCase();
  }
  return undefined;
}

/**
 * The namespace and service account of a mesh identity of this trust domain
 * (`<sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>`), or undefined.
 */
export function identityWorkload(identity: string, trustDomain: string): { namespace: string; workload: string } | undefined {
  if (!identity.endsWith(`.${trustDomain}`)) return undefined;
  const labels = identity.slice(0, -(trustDomain.length + 1)).split('.');
  if (labels.length !== 5 || labels[2] !== 'serviceaccount' || labels[3] !== 'identity') return undefined;
  const [workload = '', namespace = '', , , controlNamespace = ''] = labels;
  if (!isDnsLabel(workload) || !isDnsLabel(namespace) || !isDnsLabel(controlNamespace)) return undefined;
  return { namespace, workload };
}

/**
 * Checks a report's certificate chain against the trust anchors (signatures,
 * validity at `nowMs`, CA flags) and its signature with the leaf's key, and
 * returns the workload it is for. Throws {@link TelemetryRefused}.
 */
export function verifyReport(report: telemetry.SignedReport, trust: ReportTrust | undefined, nowMs: number): ReportSender {
  return verifySigned({ payload: report.summary, certificateChain: report.certificateChain, signature: report.signature }, telemetrySignaturePrefix, 'summary', trust, nowMs);
}

/** Bytes signed by a mesh leaf key, with the chain that leads to the anchors. */
export interface SignedPayload {
  readonly payload: Uint8Array;
  readonly certificateChain: readonly Uint8Array[];
  readonly signature: Uint8Array;
}

/**
 * The check of {@link verifyReport} for any signed message: the signature
 * covers `prefix` then `payload` (`what` names the payload in errors).
 * Throws {@link TelemetryRefused}.
 */
export function verifySigned(signed: SignedPayload, prefix: Uint8Array, what: string, trust: ReportTrust | undefined, nowMs: number): ReportSender {
  if (trust === undefined || trust.anchors.length === 0) {
    throw new TelemetryRefused(status.UNAVAILABLE, 'TrustBundleUnknown', 'the gateway has not yet read the trust bundle from the bus; retry later');
  }
  const { certificateChain, signature, payload } = signed;
  if (certificateChain.length === 0) throw invalid('certificate_chain is empty; send the leaf certificate first, then its issuers');
  if (certificateChain.length > maxChainLength) throw invalid(`certificate_chain has ${certificateChain.length} certificates; at most ${maxChainLength} are accepted`);
  if (signature.length === 0) throw invalid(`signature is empty; sign the ${what} with the leaf certificate key`);
  let chain: X509Certificate[];
  try {
    chain = certificateChain.map((der) => new X509Certificate(Buffer.from(der)));
  } catch {
    throw invalid('certificate_chain holds something that is not a DER X.509 certificate');
  }
  const leaf = chain[0]!;
  if (leaf.ca) throw denied('the first certificate of certificate_chain is a CA certificate, not a workload leaf');
  let current = leaf;
  for (let i = 0; ; i++) {
    if (!validAt(current, nowMs)) throw denied(`certificate ${i} of certificate_chain is not valid now (${current.validFrom} to ${current.validTo})`);
    if (trust.anchors.some((anchor) => issuedBy(current, anchor) && validAt(anchor, nowMs))) break;
    const next = chain[i + 1];
    if (next === undefined) throw denied('certificate_chain does not lead to the mesh trust anchors');
    if (!next.ca || !issuedBy(current, next)) throw denied(`certificate ${i} of certificate_chain is not issued by certificate ${i + 1}`);
    current = next;
  }
  let verified: boolean;
  try {
    verified = verify('sha256', Buffer.concat([prefix, payload]), leaf.publicKey, Buffer.from(signature));
  } catch {
    verified = false;
  }
  if (!verified) throw denied("the signature does not verify with the leaf certificate's key");
  const identity = dnsName(leaf);
  if (identity === undefined) throw denied('the leaf certificate names no DNS identity');
  const workload = identityWorkload(identity, trust.trustDomain);
  if (workload === undefined) throw denied(`the leaf names ${identity}, which is not a workload identity of trust domain ${trust.trustDomain}`);
  return { identity, ...workload };
}
