/** Trust material as read from where it is kept; not validated yet. */
export interface IssuerMaterial {
  /** PEM CERTIFICATE blocks: the trust anchors. */
  readonly trustAnchorsPem: string;
  /** PEM CERTIFICATE blocks: the issuer first, then any intermediates toward an anchor. */
  readonly issuerCertificatePem: string;
  /** PEM private key of the issuer. */
  readonly issuerKeyPem: string;
}

/** What an {@link IssuerSource} reports to. */
export interface IssuerSourceListener {
  /** The material as it is now: at start, on every change, and again on periodic re-reads. */
  material(material: IssuerMaterial): void;
  /** The material could not be read (a file or key is missing, a Secret was deleted). */
  unreadable(reason: string): void;
}

/**
 * Where the issuer and trust anchors are kept, watched for changes: files in a directory (local
 * mode) or a Kubernetes Secret (cluster mode). A source only reads; validation is the caller's.
 * It may report the same material more than once.
 */
export interface IssuerSource {
  /** Where the material comes from, for logs and events: `dir:/etc/meshbus/identity`, `secret:meshbus/name`. */
  readonly description: string;
  /** Reads the material once (reported before this resolves) and keeps watching it. */
  start(listener: IssuerSourceListener): Promise<void>;
  /** Stops watching; nothing is reported afterwards. */
  stop(): Promise<void>;
}
