import type { NatsConnection } from 'nats';
import {
  busValidator,
  streams,
  subjects,
  type BusValidator,
  type EventDataMap,
  type EventKind,
  type TrustBundle,
} from '@meshbus/bus-schemas';
import { busMetrics, decodeEvent, ensureStreams, isTombstone, JetStreamPublisher } from '@meshbus/bus';
import {
  errorMessage,
  type Logger,
  type Readiness,
  type Registry,
  type ResourceStack,
  type Service,
  type ServiceHost,
  type ServiceState,
} from '@meshbus/runtime';
import { formatName, parseCertificate, serialNumberToHex } from '@meshbus/x509';
import type { CertificateAuthority } from '@meshbus/trust';
import { CertifyHandler } from './certify-handler.js';
import { CertifyResponder } from './certify-responder.js';
import type { IdentityConfig } from './config.js';
import { registerIdentityMetrics, type IdentityMetrics } from './identity-metrics.js';
import type { IssuerSource } from './issuer-source.js';
import { IssuerReloader, type IssuerChange, type IssuerRefusal } from './issuer-reloader.js';
import type { TokenValidator } from '@meshbus/trust';
import { TrustBundlePublisher, trustBundleOf } from './trust-bundle.js';

/** The adapters the identity service signs with, made by the composition root once the admin server is up. */
export interface IdentityAdapters {
  tokenValidator(): Promise<TokenValidator>;
  issuerSource(): Promise<IssuerSource>;
}

/** A running identity service. */
export interface IdentityService extends Service {
  readonly state: ServiceState;
  readonly replicaId: string;
  /** Base URL of the admin server (after start). */
  readonly adminUrl: string;
  readiness(): Readiness;
  /** The issuer this replica signs with, if one is loaded. */
  readonly issuer: CertificateAuthority | undefined;
}

/**
 * The identity service: the mesh certificate authority answering certificate
 * requests from the bus. Built by `createIdentityService`; runs on a
 * {@link ServiceHost}.
 */
export class IdentityServiceImpl implements IdentityService {
  /** Parent of the component loggers; carries the replica id. */
  private readonly baseLogger: Logger;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly validator: BusValidator = busValidator();
  private readonly metrics: IdentityMetrics;
  private readonly resources: ResourceStack;
  private readonly ceSource: string;
  private readonly pendingEvents = new Set<Promise<void>>();
  private nc: NatsConnection | undefined;
  private reloader: IssuerReloader | undefined;
  private responder: CertifyResponder | undefined;
  private answering = false;
  private subscribed = false;
  private bundles: TrustBundlePublisher | undefined;
  private publisher: JetStreamPublisher | undefined;

  constructor(
    private readonly config: IdentityConfig,
    private readonly host: ServiceHost<NatsConnection>,
    private readonly adapters: IdentityAdapters,
    private readonly now: () => Date,
  ) {
    this.baseLogger = host.logger;
    this.logger = this.baseLogger.child({ component: 'identity' });
    this.registry = host.registry;
    this.metrics = registerIdentityMetrics(this.registry, () => this.reloader?.current, this.now);
    this.resources = host.resources;
    this.ceSource = `/meshbus/identity/${config.replicaId}`;
    host.readiness.add('issuer', () => {
      const issuer = this.reloader?.current;
      if (!issuer) return `no valid issuer loaded from ${this.reloader?.source ?? 'the issuer source'}`;
      if (this.now().getTime() >= issuer.chainNotAfter.getTime()) return `the issuer chain expired at ${issuer.chainNotAfter.toISOString()}`;
      return this.subscribed ? undefined : 'joining the certify queue group';
    });
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get replicaId(): string {
    return this.config.replicaId;
  }

  get adminUrl(): string {
    if (this.state === 'initialized') throw new Error('the identity service has not started');
    return this.host.adminUrl;
  }

  get issuer(): CertificateAuthority | undefined {
    return this.reloader?.current;
  }

  readiness(): Readiness {
    return this.host.ready();
  }

  async start(): Promise<void> {
    const { config, logger } = this;
    logger.info({ mode: config.mode.kind, controlNamespace: config.controlNamespace, trustDomain: config.trustDomain }, 'starting identity service');
    let tokenValidator: TokenValidator | undefined;
    let issuerSource: IssuerSource | undefined;
    await this.host.start(
      (nc) => this.startOnBus(nc, tokenValidator!, issuerSource!),
      async () => {
        tokenValidator = await this.adapters.tokenValidator();
        issuerSource = await this.adapters.issuerSource();
      },
    );
    if (this.isDestroyed()) return;
    await this.joinQueueGroup();
    if (!this.reloader?.current) {
      logger.error({ source: issuerSource?.description }, 'no valid issuer yet: not answering certificate requests until one is installed');
    }
  }

  private async startOnBus(nc: NatsConnection, tokenValidator: TokenValidator, issuerSource: IssuerSource): Promise<void> {
    const { config } = this;
    this.nc = nc;

    await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas, eventsMaxAgeMs: config.eventsMaxAgeMs, metrics: config.metricsRetention, logger: this.logger });
    this.publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: this.validator, source: this.ceSource, registry: this.registry });
    this.bundles = new TrustBundlePublisher({
      current: () => this.currentTrustBundle(nc),
      publish: async (bundle) => {
        await this.publisher!.publish('trustBundle', subjects.trustBundle, bundle.trustDomain, bundle);
      },
      logger: this.baseLogger.child({ component: 'trust-bundle' }),
    });
    this.resources.defer(this.bundles, async () => {
      await this.bundles!.stop();
      await Promise.all(this.pendingEvents);
    });

    this.responder = new CertifyResponder({
      handler: new CertifyHandler({
        tokenValidator,
        issuer: () => this.reloader?.current,
        controlNamespace: config.controlNamespace,
        trustDomain: config.trustDomain,
        lifetimeMs: config.certificateLifetimeMs,
        clockSkewMs: config.clockSkewMs,
        now: this.now,
        metrics: this.metrics,
      }),
      validator: this.validator,
      source: this.ceSource,
      serviceMetadata: { replica: config.replicaId },
      logger: this.baseLogger.child({ component: 'certify' }),
      metrics: this.metrics,
      busMetrics: busMetrics(this.registry),
      onIssued: (outcome) =>
        this.publishEvent('certificateIssued', subjects.certificateIssued, outcome.identity, {
          identity: outcome.identity,
          serial: outcome.issued.serial,
          notAfter: outcome.issued.validUntil.toISOString(),
          replica: config.replicaId,
          issuerSerial: serialOf(outcome.issuer),
        }),
    });
    this.resources.defer(this.responder, () => this.responder!.drain());

    this.reloader = new IssuerReloader({
      source: issuerSource,
      now: this.now,
      onLoaded: (change) => this.issuerLoaded(change),
      onRefused: (refusal) => this.issuerRefused(refusal),
    });
    this.resources.defer(this.reloader, () => this.reloader!.stop());
    await this.reloader.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'destroyed') return;
    this.logger.info('stopping identity service');
    await this.host.stop();
  }

  private isDestroyed(): boolean {
    return this.state === 'destroyed';
  }

  /** Answers requests only with an issuer, so that NATS does not route requests to a replica that cannot sign. */
  private async joinQueueGroup(): Promise<void> {
    if (this.answering || this.state !== 'started' || !this.nc || !this.responder || !this.reloader?.current) return;
    this.answering = true;
    // Ready only once the server has the subscription: before that, requests find no responder.
    try {
      await this.responder.start(this.nc);
      await this.nc.flush();
      this.subscribed = true;
    } catch (error) {
      this.logger.warn({ error: errorMessage(error) }, 'joining the certify queue group failed');
    }
  }

  private issuerLoaded(change: IssuerChange): void {
    const issuer = describeIssuer(change.authority);
    const previousSerial = change.previous ? serialOf(change.previous) : undefined;
    this.metrics.issuerReloads.inc({ result: 'loaded' });
    this.logger.info({ ...issuer, previousSerial, source: change.source }, change.previous ? 'issuer rotated' : 'issuer loaded');
    this.publishEvent('issuerUpdated', subjects.issuerUpdated, issuer.serial, {
      ...issuer,
      replica: this.config.replicaId,
      source: change.source,
      ...(previousSerial === undefined ? {} : { previousSerial }),
    });
    this.bundles?.update(trustBundleOf(change.authority, this.config.trustDomain));
    void this.joinQueueGroup();
  }

  private issuerRefused(refusal: IssuerRefusal): void {
    const current = this.reloader?.current;
    this.metrics.issuerReloads.inc({ result: refusal.code });
    this.logger.error(
      { code: refusal.code, reason: refusal.reason, source: refusal.source, servingIssuerSerial: current ? serialOf(current) : undefined },
      current ? 'new issuer refused; the current issuer keeps serving' : 'issuer refused; no issuer to serve with',
    );
    this.publishEvent('issuerRefused', subjects.issuerRefused, refusal.source, {
      reason: refusal.reason,
      code: refusal.code,
      source: refusal.source,
      replica: this.config.replicaId,
    });
  }

  /** Publishes a one-off event without holding up the caller; a failure is logged. */
  private publishEvent<K extends EventKind>(kind: K, natsSubject: string, key: string, data: EventDataMap[K]): void {
    const publisher = this.publisher;
    if (!publisher) return;
    const publishing: Promise<void> = publisher.publish(kind, natsSubject, key, data).then(
      () => undefined,
      (error: unknown) => this.logger.warn({ kind, error: errorMessage(error) }, 'publishing an event failed'),
    );
    this.pendingEvents.add(publishing);
    void publishing.finally(() => this.pendingEvents.delete(publishing));
  }

  private async currentTrustBundle(nc: NatsConnection): Promise<TrustBundle | undefined> {
    const jsm = await nc.jetstreamManager();
    let stored;
    try {
      stored = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subjects.trustBundle });
    } catch (error) {
      if (errorMessage(error).includes('no message found')) return undefined;
      throw error;
    }
    const event = decodeEvent(stored.subject, stored.header, stored.data, this.validator, stored.seq);
    if (event.kind !== 'trustBundle' || isTombstone(event)) return undefined;
    return event.data as TrustBundle;
  }
}

const issuerSerials = new WeakMap<CertificateAuthority, string>();

/** The issuer's serial number, lowercase hex; parsed once per authority, as it goes on every certificate-issued event. */
function serialOf(authority: CertificateAuthority): string {
  let serial = issuerSerials.get(authority);
  if (serial === undefined) {
    serial = serialNumberToHex(parseCertificate(authority.issuerCertificateDer).serialNumber);
    issuerSerials.set(authority, serial);
  }
  return serial;
}

function describeIssuer(authority: CertificateAuthority): { subject: string; serial: string; notBefore: string; notAfter: string } {
  const certificate = parseCertificate(authority.issuerCertificateDer);
  return {
    subject: formatName(certificate.subject),
    serial: serialNumberToHex(certificate.serialNumber),
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
  };
}
