import { EventEmitter } from 'node:events';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { credentials as grpcCredentials, Metadata, status, type ChannelCredentials, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { identity } from '@meshbus/proxy-api';
import { ConfigError, MeshbusError, errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { createCsr, encodePem, parseCertificate, type DecodedCertificate } from '@meshbus/x509';
import {
  DEFAULT_BACKOFF,
  DEFAULT_RENEW_AT,
  backoffDelayMs,
  isRetryable,
  nextGatewayIndex,
  renewalDelayMs,
  waitAfterArrivalMs,
  type BackoffOptions,
} from './renewal-schedule.js';

/** A workload certificate held by a {@link CertificateClient}, with the key it certifies. */
export interface WorkloadCertificate {
  /** The identity the certificate names (its only subjectAltName). */
  readonly identity: string;
  /** The leaf certificate, one PEM CERTIFICATE block. */
  readonly certificatePem: string;
  /** The issuer chain, issuer first, trust anchor excluded: PEM CERTIFICATE blocks (empty if none). */
  readonly chainPem: string;
  /** The leaf's private key, PKCS#8 PEM. A new key is made for every certificate. */
  readonly privateKeyPem: string;
  /** The leaf's notBefore. */
  readonly validFrom: Date;
  /** The leaf's notAfter. */
  readonly validUntil: Date;
  /** The leaf's serial number, lowercase hex. */
  readonly serial: string;
}

/** Stable codes of {@link CertificateClientError}. */
export const CertificateClientErrorCode = {
  /** The identity service refused with a status that retrying cannot change; the client stopped. */
  CertificateRefused: 'CertificateRefused',
  /** A gateway answered with a certificate that does not fit the request. */
  InvalidCertificate: 'InvalidCertificate',
  /** The token provider failed. */
  TokenUnavailable: 'TokenUnavailable',
  /** The client was disposed before it got a certificate. */
  ClientDisposed: 'ClientDisposed',
  /** {@link CertificateClient.start} was called twice, or after dispose. */
  AlreadyStarted: 'AlreadyStarted',
} as const;
export type CertificateClientErrorCode = (typeof CertificateClientErrorCode)[keyof typeof CertificateClientErrorCode];

/** Why a {@link CertificateClient} could not get a certificate. */
export class CertificateClientError extends MeshbusError {
  override name = 'CertificateClientError';
  declare readonly code: CertificateClientErrorCode;
  /** The gRPC status of a refusal. */
  readonly grpcCode: status | undefined;
  /** The identity service's own code for a refusal, such as `CsrSanMismatch`, when it sent one. */
  readonly reason: string | undefined;

  constructor(
    code: CertificateClientErrorCode,
    message: string,
    options?: { cause?: unknown; grpcCode?: status; reason?: string | undefined },
  ) {
    super(code, message, options);
    this.grpcCode = options?.grpcCode;
    this.reason = options?.reason;
  }
}

/** Options of {@link CertificateClient}. */
export interface CertificateClientOptions {
  /** The identity to ask for, such as `web.shop.serviceaccount.identity.meshbus.cluster.local`. */
  identity: string;
  /** Returns the current proof of identity (service-account or workload token); called before every request. */
  tokenProvider: () => Promise<Uint8Array>;
  /** Gateway addresses, `host:port`; tried in order, moving to the next after a failure. */
  gateways: string[];
  /**
   * Credentials of the channels to the gateways. Insecure credentials are meant for local
   * development only. @default TLS with the system trust store
   */
  credentials?: ChannelCredentials;
  /** Fraction of a certificate's lifetime after which it is renewed, between 0 and 1. @default 0.7 */
  renewAt?: number;
  /** Waits between failed attempts. @default { initialMs: 500, maxMs: 30000 } */
  backoff?: BackoffOptions;
  /** Deadline of one Certify call. @default 10000 */
  callTimeoutMs?: number;
  /** Called with every new certificate, like the `certificate` event. */
  onCertificate?: (certificate: WorkloadCertificate) => void;
  /** @default a silent logger */
  logger?: Logger;
  /** The clock renewal times are measured against, epoch milliseconds. @default Date.now */
  now?: () => number;
  /** Source of jitter, a number in [0, 1). @default Math.random */
  random?: () => number;
}

/** {@link CertificateClientOptions} with defaults applied and checked. */
interface ResolvedOptions {
  readonly identity: string;
  readonly tokenProvider: () => Promise<Uint8Array>;
  readonly gateways: readonly string[];
  readonly credentials: ChannelCredentials;
  readonly renewAt: number;
  readonly backoff: BackoffOptions;
  readonly callTimeoutMs: number;
  readonly onCertificate: ((certificate: WorkloadCertificate) => void) | undefined;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${what} must be a positive number, got ${value}`);
  return value;
}

/** Applies defaults and throws {@link ConfigError} for options that cannot work. */
export function resolveCertificateClientOptions(options: CertificateClientOptions): ResolvedOptions {
  if (options.identity.length === 0) throw new ConfigError('identity is empty');
  if (options.gateways.length === 0) throw new ConfigError('gateways is empty; give at least one host:port');
  const badGateway = options.gateways.find((g) => !/^\S+:\d{1,5}$/.test(g));
  if (badGateway !== undefined) throw new ConfigError(`gateway ${JSON.stringify(badGateway)} is not host:port`);
  const renewAt = options.renewAt ?? DEFAULT_RENEW_AT;
  if (!(renewAt > 0 && renewAt < 1)) throw new ConfigError(`renewAt must be between 0 and 1 (a fraction of the lifetime), got ${renewAt}`);
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  positive(backoff.initialMs, 'backoff.initialMs');
  positive(backoff.maxMs, 'backoff.maxMs');
  if (backoff.maxMs < backoff.initialMs) throw new ConfigError(`backoff.maxMs (${backoff.maxMs}) is below backoff.initialMs (${backoff.initialMs})`);
  return {
    identity: options.identity,
    tokenProvider: options.tokenProvider,
    gateways: [...options.gateways],
    credentials: options.credentials ?? grpcCredentials.createSsl(),
    renewAt,
    backoff,
    callTimeoutMs: positive(options.callTimeoutMs ?? 10_000, 'callTimeoutMs'),
    onCertificate: options.onCertificate,
    logger: (options.logger ?? silentLogger()).child({ component: 'certificate-client' }),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
  };
}

function invalidCertificate(message: string, cause?: unknown): CertificateClientError {
  return new CertificateClientError(CertificateClientErrorCode.InvalidCertificate, `the gateway sent an unusable certificate: ${message}`, { cause });
}

/**
 * Checks that a Certify response certifies `privateKey` for `name`, is valid at `nowMs`, and is
 * signed by the first certificate of the chain, and turns it into PEM. Throws
 * {@link CertificateClientError} `InvalidCertificate`.
 */
export function toWorkloadCertificate(
  response: identity.CertifyResponse,
  privateKey: KeyObject,
  name: string,
  nowMs: number,
): WorkloadCertificate {
  let leaf: DecodedCertificate;
  let leafX509: X509Certificate;
  let chain: X509Certificate[];
  try {
    leaf = parseCertificate(response.leafCertificate);
    leafX509 = new X509Certificate(response.leafCertificate);
    chain = response.intermediateCertificates.map((der) => new X509Certificate(der));
  } catch (error) {
    throw invalidCertificate(errorMessage(error), error);
  }
  if (!leafX509.checkPrivateKey(privateKey)) throw invalidCertificate('the leaf does not certify the key of the request');
  const names = leaf.subjectAltNames ?? [];
  if (names.length !== 1 || names[0]?.type !== 'dns' || names[0].value !== name) {
    throw invalidCertificate(`the leaf does not name exactly ${name}`);
  }
  if (leaf.notAfter.getTime() <= nowMs) throw invalidCertificate(`the leaf expired at ${leaf.notAfter.toISOString()}`);
  const issuer = chain[0];
  if (issuer !== undefined && !(leafX509.checkIssued(issuer) && leafX509.verify(issuer.publicKey))) {
    throw invalidCertificate('the leaf is not signed by the first certificate of the chain');
  }
  return {
    identity: name,
    certificatePem: encodePem('CERTIFICATE', leaf.der),
    chainPem: response.intermediateCertificates.map((der) => encodePem('CERTIFICATE', der)).join(''),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    validFrom: leaf.notBefore,
    validUntil: leaf.notAfter,
    serial: leafX509.serialNumber.toLowerCase(),
  };
}

// Duck-typed rather than instanceof Metadata: a second copy of grpc-js in node_modules would fail that.
function isServiceError(error: unknown): error is ServiceError {
  const candidate = error as Partial<ServiceError> | undefined;
  return error instanceof Error && typeof candidate?.code === 'number' && typeof candidate.metadata?.get === 'function';
}

/** Events of a {@link CertificateClient}. */
export interface CertificateClientEvents {
  /** A new certificate is held (the first one, or a renewal). */
  certificate: [certificate: WorkloadCertificate];
  /**
   * The client stopped asking for certificates after a refusal retrying cannot change. The current
   * certificate, if any, stays. Emitted only when a listener is attached; the error is logged either way.
   */
  error: [error: CertificateClientError];
}

/**
 * Keeps a workload certificate from the mesh identity service, through the gateways' Identity
 * gRPC API: makes a P-256 key and a CSR for the identity, asks for a leaf, renews it after
 * `renewAt` of its lifetime with a new key, and on failure retries with exponential backoff and
 * jitter, moving through the gateway list. A refusal that retrying cannot change
 * (INVALID_ARGUMENT, PERMISSION_DENIED, FAILED_PRECONDITION, UNAUTHENTICATED) stops it.
 */
export class CertificateClient extends EventEmitter<CertificateClientEvents> {
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly clients = new Map<string, identity.IdentityClient>();
  private state: 'initialized' | 'started' | 'destroyed' = 'initialized';
  private held: WorkloadCertificate | undefined;
  private gatewayIndex = 0;
  /** Certificates in a row that were already due for renewal when they arrived. */
  private dueStreak = 0;
  private inFlight: ClientUnaryCall | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private first: { resolve: (certificate: WorkloadCertificate) => void; reject: (error: unknown) => void } | undefined;

  constructor(options: CertificateClientOptions) {
    super();
    this.options = resolveCertificateClientOptions(options);
    this.logger = this.options.logger;
  }

  /** The certificate held now, if any. */
  get current(): WorkloadCertificate | undefined {
    return this.held;
  }

  /**
   * Starts getting and renewing certificates. Resolves with the first certificate; rejects with
   * {@link CertificateClientError} if the identity service refuses for good or the client is
   * disposed first. Failures that may pass are retried for as long as it takes.
   */
  start(): Promise<WorkloadCertificate> {
    if (this.state !== 'initialized') {
      return Promise.reject(new CertificateClientError(CertificateClientErrorCode.AlreadyStarted, 'the certificate client was already started'));
    }
    this.state = 'started';
    const first = new Promise<WorkloadCertificate>((resolve, reject) => {
      this.first = { resolve, reject };
    });
    this.loop = this.run().catch((error: unknown) => {
      this.logger.error({ err: error }, 'certificate client stopped unexpectedly');
      this.settleFirst(error);
    });
    return first;
  }

  /** Stops renewing, cancels a call in flight and closes the channels. The current certificate stays readable. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    this.inFlight?.cancel();
    this.wake?.();
    await this.loop;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    this.settleFirst(new CertificateClientError(CertificateClientErrorCode.ClientDisposed, 'the certificate client was disposed before it got a certificate'));
  }

  private get stopped(): boolean {
    return this.state === 'destroyed';
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const certificate = await this.obtain();
      if (certificate === undefined) return;
      const validity = { notBefore: certificate.validFrom, notAfter: certificate.validUntil };
      const { renewAt, backoff } = this.options;
      if (renewalDelayMs(validity, renewAt, this.options.now()) === 0) {
        this.logger.warn({ validFrom: certificate.validFrom.toISOString(), validUntil: certificate.validUntil.toISOString() }, 'certificate is already due for renewal on arrival; check the clock and the issuer expiry');
        await this.sleep(waitAfterArrivalMs(validity, renewAt, this.options.now(), this.dueStreak++, backoff, this.options.random()));
      } else {
        this.dueStreak = 0;
      }
      for (;;) {
        const delay = renewalDelayMs(validity, renewAt, this.options.now());
        if (delay === 0 || this.stopped) break;
        await this.sleep(delay);
      }
    }
  }

  /** Gets one certificate, retrying; undefined once the client is disposed or gave up. */
  private async obtain(): Promise<WorkloadCertificate | undefined> {
    const { identity: name, gateways, backoff } = this.options;
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const csr = Buffer.from(createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: name }] }));
    for (let attempt = 0; !this.stopped; attempt++) {
      const gateway = gateways[this.gatewayIndex]!;
      try {
        const token = await this.token();
        if (this.stopped) return undefined;
        const response = await this.certify(gateway, { identity: name, token: Buffer.from(token), certificateSigningRequest: csr });
        const certificate = toWorkloadCertificate(response, privateKey, name, this.options.now());
        this.install(certificate, gateway);
        return certificate;
      } catch (error) {
        if (this.stopped) return undefined;
        const grpcCode = isServiceError(error) ? error.code : undefined;
        if (!isRetryable(grpcCode)) {
          this.giveUp(error as ServiceError, gateway);
          return undefined;
        }
        this.gatewayIndex = nextGatewayIndex(this.gatewayIndex, gateways.length);
        const delay = backoffDelayMs(attempt, backoff, this.options.random());
        this.logger.warn(
          { gateway, next: gateways[this.gatewayIndex], grpcCode: grpcCode === undefined ? undefined : status[grpcCode], retryInMs: delay, err: error },
          `getting a certificate failed, retrying: ${errorMessage(error)}`,
        );
        await this.sleep(delay);
      }
    }
    return undefined;
  }

  private async token(): Promise<Uint8Array> {
    try {
      return await this.options.tokenProvider();
    } catch (error) {
      throw new CertificateClientError(CertificateClientErrorCode.TokenUnavailable, `the token provider failed: ${errorMessage(error)}`, { cause: error });
    }
  }

  private certify(gateway: string, request: identity.CertifyRequest): Promise<identity.CertifyResponse> {
    let client = this.clients.get(gateway);
    if (client === undefined) {
      client = new identity.IdentityClient(gateway, this.options.credentials);
      this.clients.set(gateway, client);
    }
    const deadline = Date.now() + this.options.callTimeoutMs;
    return new Promise((resolve, reject) => {
      this.inFlight = client.certify(request, new Metadata(), { deadline }, (error, response) => {
        this.inFlight = undefined;
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  private install(certificate: WorkloadCertificate, gateway: string): void {
    this.held = certificate;
    this.logger.info(
      { gateway, serial: certificate.serial, validFrom: certificate.validFrom.toISOString(), validUntil: certificate.validUntil.toISOString() },
      'certificate obtained',
    );
    this.settleFirst(undefined, certificate);
    try {
      this.options.onCertificate?.(certificate);
      this.emit('certificate', certificate);
    } catch (error) {
      this.logger.error({ err: error }, 'a certificate listener failed');
    }
  }

  private giveUp(error: ServiceError, gateway: string): void {
    const reason = error.metadata.get('meshbus-error-code')[0]?.toString();
    const refusal = new CertificateClientError(
      CertificateClientErrorCode.CertificateRefused,
      `the identity service refused a certificate for ${this.options.identity} with ${status[error.code]}: ${error.details}; not retrying`,
      { cause: error, grpcCode: error.code, reason },
    );
    this.logger.error({ gateway, grpcCode: status[error.code], reason, keepsCertificate: this.held !== undefined }, refusal.message);
    this.settleFirst(refusal);
    if (this.listenerCount('error') > 0) this.emit('error', refusal);
  }

  private settleFirst(error: unknown, certificate?: WorkloadCertificate): void {
    const first = this.first;
    if (first === undefined) return;
    this.first = undefined;
    if (certificate !== undefined) first.resolve(certificate);
    else first.reject(error);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
