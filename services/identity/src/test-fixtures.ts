import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { busValidator, subjects, type CertifyRequest, type CertifyResponse } from '@meshbus/bus-schemas';
import { decodeEvent, encodeEvent, type BusEvent } from '@meshbus/bus';
import { createCsr } from '@meshbus/x509';
import { createIssuer, createTrustAnchor, type TrustMaterial } from '@meshbus/trust';
import { createWorkloadToken } from '@meshbus/trust';
import { identityName } from '@meshbus/core';

// Shared by this package's tests only; not exported from the package.

const DAY = 86_400_000;

/** A fresh trust anchor and an issuer it signed, valid from a minute ago for `days`. */
export function makeTrustMaterial(days = 30): { anchor: TrustMaterial; issuer: TrustMaterial } {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY) };
  const anchor = createTrustAnchor({ commonName: 'root.meshbus.test', validity });
  const issuer = createIssuer({ anchor, commonName: 'identity.meshbus.test', validity });
  return { anchor, issuer };
}

/** Another issuer signed by `anchor`. */
export function makeIssuer(anchor: TrustMaterial, commonName = 'identity-next.meshbus.test', days = 30): TrustMaterial {
  const now = Date.now();
  return createIssuer({ anchor, commonName, validity: { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY) } });
}

/** The identity of `sa` in `ns` with the default control namespace and trust domain. */
export function identityOf(serviceAccount: string, namespace: string): string {
  return identityName({ serviceAccount, namespace, controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
}

/** A P-256 key and a DER CSR for `identity`. */
export function makeCsr(identity: string): { key: KeyObject; csrDer: Uint8Array } {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return { key, csrDer: createCsr({ privateKey: key, subjectAltNames: [{ type: 'dns', value: identity }] }) };
}

/** A workload token signing key pair (Ed25519). */
export function makeTokenKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** A workload token for `sa` in `ns`, valid for an hour. */
export function workloadToken(privateKey: KeyObject, serviceAccount: string, namespace: string, audience = 'identity.meshbus.io'): string {
  return createWorkloadToken({ namespace, serviceAccount, audience, expiresAt: new Date(Date.now() + 3_600_000) }, privateKey);
}

/** The request data a gateway would send: base64 of the token and of the CSR. */
export function certifyRequest(identity: string, token: string, csrDer: Uint8Array): CertifyRequest {
  return { identity, token: Buffer.from(token).toString('base64'), csr: Buffer.from(csrDer).toString('base64') };
}

/** Sends a certificate request as a gateway does (CloudEvent, NATS request/reply) and decodes the reply. */
export async function requestCertificate(
  nc: NatsConnection,
  request: CertifyRequest,
  timeoutMs = 5000,
): Promise<{ response: CertifyResponse; event: BusEvent }> {
  const validator = busValidator();
  const { headers, payload } = encodeEvent('certifyRequest', subjects.certify, request, { source: '/meshbus/gateway/test', subject: request.identity }, validator);
  const reply = await nc.request(subjects.certify, payload, { headers, timeout: timeoutMs });
  const event = decodeEvent(reply.subject, reply.headers, reply.data, validator);
  if (event.kind !== 'certifyResponse') throw new Error(`unexpected reply type ${event.type}`);
  return { response: event.data as CertifyResponse, event };
}

/** The error of a refused request, or undefined when a certificate came back. */
export function refusalOf(response: CertifyResponse): { grpcCode: number; code: string; message: string } | undefined {
  return 'error' in response ? response.error : undefined;
}

/** The PEM of a base64 DER certificate. */
export function pemOfBase64(der: string): string {
  const body = der.match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
