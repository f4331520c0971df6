import type { PeerCertificate, TLSSocket } from 'node:tls';
import { parseCertificate } from '@meshbus/x509';

/**
 * The identity a certificate names: its first DNS subjectAltName, lowercased (mesh leaves carry
 * exactly one). Undefined when the DER cannot be read or names no DNS name. This does not say
 * whether the certificate is trusted; see {@link peerIdentity}.
 */
export function certificateIdentity(der: Uint8Array): string | undefined {
  return certificateDnsNames(der)[0];
}

/** All DNS subjectAltNames of a certificate, lowercased, in order; empty when unreadable. */
export function certificateDnsNames(der: Uint8Array): string[] {
  try {
    const names = parseCertificate(der).subjectAltNames ?? [];
    return names.flatMap((name) => (name.type === 'dns' ? [name.value.toLowerCase()] : []));
  } catch {
    return [];
  }
}

/**
 * What the server side of a mesh TLS connection knows about its client:
 * - `authenticated`: the client's certificate chains to the trust anchors and names `identity`;
 * - `unauthenticated`: the client speaks TLS but sent no certificate (Linkerd's "TLS, no identity");
 * - `untrusted`: the client sent a certificate that does not chain to the anchors, is not valid
 *   now, or names no DNS identity; such a connection should be closed.
 */
export type PeerIdentity =
  | { readonly kind: 'authenticated'; readonly identity: string }
  | { readonly kind: 'unauthenticated' }
  | { readonly kind: 'untrusted'; readonly reason: string };

function hasCertificate(certificate: PeerCertificate | Record<string, never>): certificate is PeerCertificate {
  return 'raw' in certificate && Buffer.isBuffer(certificate.raw);
}

/**
 * The identity of the peer of an established TLS socket: a client socket made with
 * `MeshTls.clientOptions`, or a server socket of `MeshTls.createServer`. OpenSSL verified the chain
 * during the handshake against the mesh trust anchors only (the context's `ca`); this reads the
 * outcome and the leaf's DNS name. A socket nobody verified (a bare `new TLSSocket`) has
 * `authorized` false, so its certificate counts as untrusted.
 */
export function peerIdentity(socket: TLSSocket): PeerIdentity {
  const certificate = socket.getPeerCertificate(false) as PeerCertificate | Record<string, never> | null;
  if (certificate === null || !hasCertificate(certificate)) return { kind: 'unauthenticated' };
  if (!socket.authorized) {
    const error = socket.authorizationError as Error | string | null;
    const reason = error instanceof Error ? error.message : String(error ?? 'not verified');
    return { kind: 'untrusted', reason: `the certificate does not chain to the mesh trust anchors: ${reason}` };
  }
  const identity = certificateIdentity(certificate.raw);
  if (identity === undefined) return { kind: 'untrusted', reason: 'the certificate names no DNS identity' };
  return { kind: 'authenticated', identity };
}

/**
 * The verified identity of the peer of an accepted connection, or undefined when it sent no
 * certificate or one that does not chain to the trust anchors.
 */
export function clientIdentity(socket: TLSSocket): string | undefined {
  const peer = peerIdentity(socket);
  return peer.kind === 'authenticated' ? peer.identity : undefined;
}
