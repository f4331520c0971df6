/*
 * A summary as the Telemetry API carries it, signed with the proxy's mesh
 * certificate key so the gateway can publish it under the identity that
 * certificate names. Pure.
 */
import { sign, X509Certificate } from 'node:crypto';
import { telemetry, telemetrySignaturePrefix } from '@meshbus/proxy-api';
import type { TrafficSummary } from './summarizer.js';

/** The parts of a workload certificate a report is signed with. */
export interface SigningCertificate {
  /** The leaf, one PEM CERTIFICATE block. */
  readonly certificatePem: string;
  /** The issuer chain, nearest first, PEM blocks (empty if none). */
  readonly chainPem: string;
  /** The leaf's private key, PKCS#8 PEM. */
  readonly privateKeyPem: string;
}

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The DER certificates of PEM text, in order. */
export function pemCertificatesToDer(pem: string): Buffer[] {
  return (pem.match(pemBlock) ?? []).map((block) => new X509Certificate(block).raw);
}

function wireDirection(direction: 'inbound' | 'outbound'): telemetry.Direction {
  return direction === 'inbound' ? telemetry.Direction.INBOUND : telemetry.Direction.OUTBOUND;
}

/** The protobuf message of a summary. */
export function summaryMessage(summary: TrafficSummary, instance: string): telemetry.MetricsSummary {
  return {
    intervalStartMs: BigInt(Math.max(0, Math.round(summary.intervalStartMs))),
    intervalMs: summary.intervalMs,
    instance,
    requests: summary.requests.map((r) => ({
      direction: wireDirection(r.direction),
      authority: r.authority,
      route: r.route,
      statusClass: r.statusClass,
      tls: r.tls,
      success: BigInt(r.success),
      failure: BigInt(r.failure),
      latencyBuckets: r.latency.map((n) => BigInt(n)),
    })),
    tcp: summary.tcp.map((t) => ({
      direction: wireDirection(t.direction),
      authority: t.authority,
      opened: BigInt(t.opened),
      closed: BigInt(t.closed),
      open: BigInt(t.open),
      readBytes: BigInt(t.readBytes),
      writeBytes: BigInt(t.writeBytes),
    })),
  };
}

/** Encodes and signs a summary with the certificate's key (ECDSA, SHA-256). */
export function signReport(summary: telemetry.MetricsSummary, certificate: SigningCertificate): telemetry.SignedReport {
  const bytes = Buffer.from(telemetry.MetricsSummary.encode(summary).finish());
  const signature = sign('sha256', Buffer.concat([telemetrySignaturePrefix, bytes]), certificate.privateKeyPem);
  return {
    summary: bytes,
    certificateChain: [...pemCertificatesToDer(certificate.certificatePem), ...pemCertificatesToDer(certificate.chainPem)],
    signature,
  };
}
