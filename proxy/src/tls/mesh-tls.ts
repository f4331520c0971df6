import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import {
  connect as tlsConnect,
  createSecureContext,
  createServer as tlsCreateServer,
  type ConnectionOptions,
  type PeerCertificate,
  type SecureContext,
  type SecureContextOptions,
  type Server,
  type TlsOptions,
  type TLSSocket,
} from 'node:tls';
import type { WorkloadCertificate } from '@meshbus/identity-client';
import { errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { decodePemAll } from '@meshbus/x509';
import { MeshTlsError, MeshTlsErrorCode } from './errors.js';
import { certificateDnsNames, peerIdentity, type PeerIdentity } from './peer-identity.js';

/**
 * ALPN protocols a mesh server accepts. Proxies carry HTTP between them over HTTP/2 (`h2`);
 * `http/1.1` is accepted so a client that cannot speak HTTP/2 still gets a working connection,
 * and a client that offers no ALPN (opaque TCP) is accepted too.
 */
export const MESH_SERVER_ALPN: readonly string[] = ['h2', 'http/1.1'];
/** ALPN a mesh client offers by default: HTTP/2 only, as the data path speaks it between proxies. */
export const MESH_CLIENT_ALPN: readonly string[] = ['h2'];

/** Where certificates come from: the identity client's `CertificateClient` has this shape. */
export interface CertificateSource {
  /** The certificate held now, if any. */
  readonly current: WorkloadCertificate | undefined;
  on(event: 'certificate', listener: (certificate: WorkloadCertificate) => void): unknown;
  off(event: 'certificate', listener: (certificate: WorkloadCertificate) => void): unknown;
}

/** Options of {@link MeshTls}. */
export interface MeshTlsOptions {
  /** PEM with one or more CERTIFICATE blocks: the mesh's trust anchors. Peers must chain to one of them. */
  readonly trustAnchorsPem: string;
  /** The identity client whose certificates to follow (the current one, then every renewal). */
  readonly certificates?: CertificateSource;
  /** ALPN protocols the server side accepts. @default MESH_SERVER_ALPN (`h2`, `http/1.1`) */
  readonly serverAlpn?: readonly string[];
  /** A server closes connections whose handshake takes longer. @default 10000 */
  readonly handshakeTimeoutMs?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
}

/** What a client needs to dial another proxy. */
export interface MeshClientTarget {
  /** The identity the server must prove, from Destination: `tlsIdentity.dnsLikeIdentity.name`. */
  readonly serverIdentity: string;
  /** The SNI to send (Destination's `tlsIdentity.serverName.name`). @default serverIdentity */
  readonly serverName?: string;
  /** ALPN protocols to offer. @default MESH_CLIENT_ALPN (`h2`) */
  readonly alpn?: readonly string[];
}

/** Options of {@link MeshTls.connect}. */
export interface MeshConnectOptions extends MeshClientTarget {
  readonly host: string;
  readonly port: number;
  /** Gives up on a handshake that takes longer. @default 10000 */
  readonly timeoutMs?: number;
  /** The connection stays open for writing when the server ends its side (opaque TCP carries half-closes). @default false */
  readonly allowHalfOpen?: boolean;
  /**
   * Runs the handshake over this connection instead of dialling `host:port` (which then only name
   * the peer in errors): the inner mesh TLS inside a multicluster tunnel.
   */
  readonly socket?: Duplex;
}

/** A mesh TLS connection accepted by {@link MeshTls.createServer}. */
export interface AcceptedConnection {
  readonly socket: TLSSocket;
  /** `authenticated` or `unauthenticated`; untrusted clients are refused before this point. */
  readonly peer: Exclude<PeerIdentity, { kind: 'untrusted' }>;
}

/** Events of a {@link MeshTls}. */
export interface MeshTlsEvents {
  /** A new certificate is in use for new connections; open connections keep theirs. */
  update: [certificate: WorkloadCertificate];
  /** A certificate could not be used; the previous one stays. Emitted only when a listener is attached. */
  error: [error: MeshTlsError];
}

const CERTIFICATE_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
]);

interface Installed {
  readonly certificate: WorkloadCertificate;
  readonly material: SecureContextOptions;
  readonly context: SecureContext;
}

function readAnchors(pem: string): X509Certificate[] {
  let anchors: X509Certificate[];
  try {
    anchors = decodePemAll(pem, 'CERTIFICATE').map((der) => new X509Certificate(der));
  } catch (error) {
    throw new MeshTlsError(MeshTlsErrorCode.InvalidTrustAnchors, `trust anchors could not be read: ${errorMessage(error)}`, { cause: error });
  }
  if (anchors.length === 0) throw new MeshTlsError(MeshTlsErrorCode.InvalidTrustAnchors, 'trust anchors hold no CERTIFICATE block');
  return anchors;
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/** Checks that the leaf, through its chain, reaches one of the anchors: peers would refuse it otherwise. */
function checkChainsToAnchors(certificate: WorkloadCertificate, anchors: readonly X509Certificate[]): void {
  let current = new X509Certificate(certificate.certificatePem);
  const chain = certificate.chainPem === '' ? [] : decodePemAll(certificate.chainPem, 'CERTIFICATE').map((der) => new X509Certificate(der));
  for (let index = 0; ; index++) {
    if (anchors.some((anchor) => signedBy(current, anchor) || anchor.raw.equals(current.raw))) return;
    const next = chain[index];
    if (next === undefined || !signedBy(current, next)) {
      throw new MeshTlsError(
        MeshTlsErrorCode.InvalidCertificate,
        `the certificate for ${certificate.identity} (serial ${certificate.serial}) does not chain to the trust anchors; peers would refuse it`,
      );
    }
    current = next;
  }
}

function describeNames(names: readonly string[]): string {
  return names.length === 0 ? 'no DNS identity' : names.join(', ');
}

/**
 * Mutual TLS 1.3 between meshed proxies. Holds the proxy's current certificate (leaf, chain and
 * key, from the identity client) and the trust anchors, and makes the TLS options of both sides:
 *
 * - server: TLS 1.3 only; asks for a client certificate but admits clients without one (they are
 *   `unauthenticated`, as Linkerd admits TLS clients that have no identity); a client certificate
 *   that does not chain to the anchors gets the connection closed by {@link createServer}.
 * - client: TLS 1.3 only; presents the proxy's certificate, sends the expected identity as SNI,
 *   verifies the server's chain against the anchors only and requires its DNS name to be exactly
 *   the identity Destination gave.
 *
 * A renewed certificate replaces the context for new connections; open connections are untouched.
 * A certificate that cannot be used (key mismatch, not chaining to the anchors) is refused and the
 * previous one stays in use.
 */
export class MeshTls extends EventEmitter<MeshTlsEvents> {
  private readonly anchorsPem: string;
  private readonly anchors: readonly X509Certificate[];
  private readonly serverAlpn: readonly string[];
  private readonly handshakeTimeoutMs: number;
  private readonly logger: Logger;
  private readonly source: CertificateSource | undefined;
  private readonly follow = (certificate: WorkloadCertificate): void => {
    try {
      this.update(certificate);
    } catch (error) {
      if (error instanceof MeshTlsError && this.listenerCount('error') > 0) this.emit('error', error);
    }
  };
  private installed: Installed | undefined;

  constructor(options: MeshTlsOptions) {
    super();
    this.anchors = readAnchors(options.trustAnchorsPem);
    this.anchorsPem = options.trustAnchorsPem;
    this.serverAlpn = [...(options.serverAlpn ?? MESH_SERVER_ALPN)];
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'mesh-tls' });
    this.source = options.certificates;
    if (this.source !== undefined) {
      this.source.on('certificate', this.follow);
      const current = this.source.current;
      if (current !== undefined) this.update(current);
    }
  }

  /** Whether a certificate is held, so that both sides can make connections. */
  get ready(): boolean {
    return this.installed !== undefined;
  }

  /** The certificate in use for new connections. */
  get certificate(): WorkloadCertificate | undefined {
    return this.installed?.certificate;
  }

  /** This proxy's identity, once it holds a certificate. */
  get identity(): string | undefined {
    return this.installed?.certificate.identity;
  }

  /** The trust anchors, PEM, as given (for `openssl -CAfile` and the like). */
  get trustAnchorsPem(): string {
    return this.anchorsPem;
  }

  /**
   * Uses `certificate` for new connections. Throws {@link MeshTlsError} `InvalidCertificate`, and
   * keeps the previous certificate, when it cannot be used.
   */
  update(certificate: WorkloadCertificate): void {
    let installed: Installed;
    try {
      checkChainsToAnchors(certificate, this.anchors);
      const material: SecureContextOptions = {
        cert: certificate.certificatePem + certificate.chainPem,
        key: certificate.privateKeyPem,
        ca: this.anchorsPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
      };
      installed = { certificate, material, context: createSecureContext(material) };
    } catch (error) {
      const refusal =
        error instanceof MeshTlsError
          ? error
          : new MeshTlsError(MeshTlsErrorCode.InvalidCertificate, `the certificate for ${certificate.identity} (serial ${certificate.serial}) cannot be used: ${errorMessage(error)}`, { cause: error });
      this.logger.error({ serial: certificate.serial, keepsCertificate: this.installed?.certificate.serial }, `${refusal.message}; keeping the previous certificate`);
      throw refusal;
    }
    this.installed = installed;
    this.logger.info({ identity: certificate.identity, serial: certificate.serial, validUntil: certificate.validUntil.toISOString() }, 'mesh TLS certificate in use');
    this.emit('update', certificate);
  }

  private require(): Installed {
    if (this.installed === undefined) throw new MeshTlsError(MeshTlsErrorCode.NoCertificate, 'mesh TLS has no certificate yet; wait for the identity client');
    return this.installed;
  }

  /** Options for `tls.createServer` (and `server.setSecureContext` after a renewal): the raw material. */
  serverOptions(): TlsOptions {
    return {
      ...this.require().material,
      requestCert: true,
      // Clients without a certificate are admitted as unauthenticated. The chain of a client that
      // sends one is still verified against the anchors; peerIdentity reads the outcome.
      rejectUnauthorized: false,
      ALPNProtocols: [...this.serverAlpn],
      handshakeTimeout: this.handshakeTimeoutMs,
    };
  }

  /** Options for `tls.connect` to another proxy that must prove `target.serverIdentity`. */
  clientOptions(target: MeshClientTarget): ConnectionOptions {
    const expected = target.serverIdentity.toLowerCase();
    if (expected === '') throw new MeshTlsError(MeshTlsErrorCode.IdentityMismatch, 'the expected server identity is empty');
    return {
      secureContext: this.require().context,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      servername: target.serverName ?? target.serverIdentity,
      rejectUnauthorized: true,
      ALPNProtocols: [...(target.alpn ?? MESH_CLIENT_ALPN)],
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        const names = certificateDnsNames(certificate.raw);
        if (names.includes(expected)) return undefined;
        return new MeshTlsError(
          MeshTlsErrorCode.IdentityMismatch,
          `the server's certificate names ${describeNames(names)}, but the destination expects ${expected}`,
        );
      },
    };
  }

  /**
   * Dials another proxy and completes the handshake. Rejects with {@link MeshTlsError}:
   * `IdentityMismatch`, `UntrustedCertificate` or `HandshakeFailed`. The resolved socket has no
   * `error` listener from this method any more: attach one. (In TLS 1.3 the server checks the
   * client's certificate after the client finished, so a refused client sees its connection close.)
   */
  connect(options: MeshConnectOptions): Promise<TLSSocket> {
    const where = `${options.host}:${options.port}`;
    const tlsOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
      ...this.clientOptions(options),
      ...(options.socket !== undefined ? { socket: options.socket } : { host: options.host, port: options.port }),
      allowHalfOpen: options.allowHalfOpen ?? false,
    };
    return new Promise((resolve, reject) => {
      const socket = tlsConnect(tlsOptions);
      const timer = setTimeout(() => {
        socket.destroy(new MeshTlsError(MeshTlsErrorCode.HandshakeFailed, `mesh TLS handshake with ${where} did not finish within ${options.timeoutMs ?? 10_000} ms`));
      }, options.timeoutMs ?? 10_000);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.off('secureConnect', succeed);
        reject(toMeshTlsError(error, `the server at ${where} (expected ${options.serverIdentity})`));
      };
      const succeed = (): void => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(socket);
      };
      socket.once('secureConnect', succeed);
      socket.once('error', fail);
    });
  }

  /**
   * A `tls.Server` that follows certificate renewals (`setSecureContext`; open connections keep
   * their context) and hands each accepted connection with its client's identity to
   * `onConnection`. Clients whose certificate does not chain to the anchors are disconnected.
   *
   * It can listen itself, or take connections accepted elsewhere: after peeking a ClientHello
   * (and putting the bytes back with `socket.unshift`), `server.emit('connection', socket)`.
   * Only a `tls.Server` verifies a client's chain, so accept mesh TLS through one.
   * With `allowHalfOpen`, a client that ends its side can still be written to (as `net` has it).
   */
  createServer(onConnection: (connection: AcceptedConnection) => void, options: { readonly allowHalfOpen?: boolean } = {}): Server {
    const server = tlsCreateServer({ ...this.serverOptions(), allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
      const peer = peerIdentity(socket);
      if (peer.kind === 'untrusted') {
        this.logger.warn({ remoteAddress: socket.remoteAddress, reason: peer.reason }, 'refused a mesh TLS client');
        socket.destroy();
        return;
      }
      onConnection({ socket, peer });
    });
    const renew = (): void => server.setSecureContext(this.serverOptions());
    this.on('update', renew);
    server.once('close', () => this.off('update', renew));
    server.on('tlsClientError', (error, socket) => {
      this.logger.debug({ remoteAddress: socket.remoteAddress, err: error }, `mesh TLS handshake failed: ${error.message}`);
    });
    return server;
  }

  /** Stops following the certificate source. */
  [Symbol.dispose](): void {
    this.source?.off('certificate', this.follow);
  }
}

function toMeshTlsError(error: Error, peer: string): MeshTlsError {
  if (error instanceof MeshTlsError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && CERTIFICATE_ERROR_CODES.has(code)) {
    return new MeshTlsError(MeshTlsErrorCode.UntrustedCertificate, `${peer} presented a certificate that does not chain to the mesh trust anchors: ${error.message} (${code})`, { cause: error });
  }
  return new MeshTlsError(MeshTlsErrorCode.HandshakeFailed, `mesh TLS handshake with ${peer} failed: ${error.message}${code === undefined ? '' : ` (${code})`}`, { cause: error });
}
