import { MeshbusError } from '@meshbus/core';

/** Stable codes of {@link MeshTlsError}. */
export const MeshTlsErrorCode = {
  /** The trust anchors could not be read, or hold no certificate. */
  InvalidTrustAnchors: 'InvalidTrustAnchors',
  /** A certificate from the identity client could not be made into a TLS context (the old one is kept). */
  InvalidCertificate: 'InvalidCertificate',
  /** TLS options were asked for before the first certificate arrived. */
  NoCertificate: 'NoCertificate',
  /** The server's certificate names another identity than the one the destination gave. */
  IdentityMismatch: 'IdentityMismatch',
  /** The peer's certificate does not chain to the trust anchors, or is not valid now. */
  UntrustedCertificate: 'UntrustedCertificate',
  /** The handshake failed for another reason (protocol version, connection closed, timeout). */
  HandshakeFailed: 'HandshakeFailed',
} as const;
export type MeshTlsErrorCode = (typeof MeshTlsErrorCode)[keyof typeof MeshTlsErrorCode];

/** Why mesh TLS could not be set up or a mesh TLS connection was refused. */
export class MeshTlsError extends MeshbusError {
  override name = 'MeshTlsError';
  declare readonly code: MeshTlsErrorCode;

  constructor(code: MeshTlsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
