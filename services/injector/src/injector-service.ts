import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { Counter, createLogger, createMetricsRegistry, ServiceHost, type HostConnection, type Logger, type Registry, type Service, type ServiceState } from '@meshbus/runtime';
import { reviewAdmission, type NamespaceLookup } from './admission.js';
import { injectionTrust, type InjectorConfig } from './config.js';
import type { InjectionConfig } from './inject.js';
import { FolderNamespaceLookup } from './namespace-lookup.js';
import { BusPodEvents, podInjectionEvent, type PodEventSink } from './pod-events.js';
import { TrustMaterialFiles } from './trust-material.js';

/** Bodies larger than this are refused (a pod's AdmissionReview is a few kilobytes). */
const maxBody = 4 * 1024 * 1024;

/** The running injector. */
export interface InjectorService extends Service {
  readonly state: ServiceState;
  readonly adminUrl: string;
  /** `https://host:port` of the webhook, once started. */
  readonly webhookUrl: string;
  /** The injection settings new pods get now (the trust material follows its files). */
  readonly injection: InjectionConfig;
}

/** Dependencies a test may replace. */
export interface InjectorOverrides {
  logger?: Logger;
  registry?: Registry;
  namespaces?: NamespaceLookup;
  /** Where pod-injection events go instead of NATS. */
  events?: PodEventSink;
  /** The Kubernetes client configuration in kubernetes mode, instead of `KUBECONFIG` or in-cluster. */
  kubeConfig?: KubeConfig;
}

/** A namespace source with a lifecycle (the informer); the folder lookup has none. */
interface StartedLookup extends NamespaceLookup {
  readonly ready?: boolean;
  stop?(): Promise<void>;
}

/**
 * The injector's host connection: the event publisher, connecting in the background. Admission
 * never waits for NATS, so the host's bus check is replaced by a detail line (see the constructor).
 */
function eventsConnection(events: PodEventSink): () => Promise<HostConnection<PodEventSink>> {
  return async () => {
    if (events instanceof BusPodEvents) events.start();
    return {
      client: events,
      get connected() {
        return events instanceof BusPodEvents ? events.connected : true;
      },
      onReconnect: () => undefined,
      release: async () => {
        if (events instanceof BusPodEvents) await events.stop();
      },
    };
  };
}

/** Events switched off (`MESHBUS_INJECTOR_EVENTS=false`). */
const noEvents: PodEventSink = { offer: () => undefined };

class InjectorServiceImpl implements InjectorService {
  private server: Server | undefined;
  private readonly decisions: Counter;
  private readonly webhookLog: Logger;
  private namespaces: StartedLookup | undefined;
  private current: InjectionConfig;
  private readonly trust: TrustMaterialFiles;

  constructor(
    private readonly config: InjectorConfig,
    private readonly host: ServiceHost<PodEventSink>,
    private readonly events: PodEventSink,
    private readonly overrides: InjectorOverrides,
  ) {
    this.current = config.injection;
    this.webhookLog = host.logger.child({ component: 'webhook' });
    this.decisions = new Counter({ name: 'meshbus_injector_admissions_total', help: 'Pod admissions answered, by outcome.', labelNames: ['outcome'], registers: [host.registry] });
    this.trust = new TrustMaterialFiles({
      anchorsFile: config.trustAnchorsFile,
      ...(config.gatewayCaFile !== undefined ? { gatewayCaFile: config.gatewayCaFile } : {}),
      intervalMs: config.trustReloadMs,
      logger: host.logger.child({ component: 'trust' }),
      onChange: (material) => (this.current = { ...this.config.injection, ...injectionTrust(material) }),
    });
    host.readiness.add('webhook', () => (this.server?.listening ? undefined : 'webhook not listening'));
    host.readiness.add('namespaces', () => (this.namespaces === undefined || this.namespaces.ready === false ? 'namespaces not listed yet' : undefined));
    // Admission keeps working without NATS: only the events wait (or are dropped).
    host.readiness.remove('bus');
    host.readiness.addDetails('events', () =>
      this.events instanceof BusPodEvents && !this.events.connected ? ['pod-injection events: not connected to NATS; holding them in the buffer, then dropping (meshbus_injector_events_dropped_total)'] : [],
    );
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get adminUrl(): string {
    return this.host.adminUrl;
  }

  get injection(): InjectionConfig {
    return this.current;
  }

  get webhookUrl(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the webhook is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `https://${host}:${address.port}`;
  }

  async start(): Promise<void> {
    await this.host.start(
      async () => {
        const namespaces = await this.namespaceLookup();
        this.namespaces = namespaces;
        if (namespaces.stop) this.host.resources.defer(namespaces, () => namespaces.stop!());
        const [cert, key] = await Promise.all([readFile(this.config.tlsCertFile), readFile(this.config.tlsKeyFile)]);
        const server = createServer({ cert, key }, (req, res) => this.handle(namespaces, req, res));
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.config.webhook.port, this.config.webhook.host, () => resolve());
        });
        this.server = server;
        this.host.resources.defer(server, () => new Promise<void>((resolve) => server.close(() => resolve())));
        const source = this.config.namespaces;
        this.host.logger.info({ webhook: this.webhookUrl, namespaces: source.kind === 'manifests' ? `manifests:${source.manifestsDir}` : 'kubernetes', events: this.config.events.enabled }, 'injector started');
      },
      async () => {
        await this.trust.start();
        this.current = { ...this.config.injection, ...injectionTrust(this.trust.current) };
        this.host.resources.defer(this.trust, async () => this.trust.stop());
      },
    );
  }

  private async namespaceLookup(): Promise<StartedLookup> {
    if (this.overrides.namespaces) return this.overrides.namespaces;
    const source = this.config.namespaces;
    if (source.kind === 'manifests') {
      const lookup = new FolderNamespaceLookup(source.manifestsDir);
      await lookup.start();
      return lookup;
    }
    // Loaded in kubernetes mode only: the client is large, and `meshbus inject` imports this package.
    const [{ KubeConfig }, { KubernetesNamespaceLookup }] = await Promise.all([import('@kubernetes/client-node'), import('./namespace-lookup-kubernetes.js')]);
    let kubeConfig = this.overrides.kubeConfig;
    if (!kubeConfig) {
      kubeConfig = new KubeConfig();
      if (source.kubeconfig !== undefined) kubeConfig.loadFromFile(source.kubeconfig);
      else kubeConfig.loadFromCluster();
    }
    const lookup = new KubernetesNamespaceLookup({ kubeConfig, logger: this.host.logger.child({ component: 'namespaces' }) });
    lookup.start();
    return lookup;
  }

  private handle(namespaces: NamespaceLookup, req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: unknown, text?: string) => {
      // One buffer with its length: the headers and the body leave in one TLS write.
      const bytes = Buffer.from(text ?? JSON.stringify(body));
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
      res.end(bytes);
    };
    if (req.method !== 'POST') return reply(405, { error: 'POST an AdmissionReview to this webhook' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) {
        reply(413, { error: `the body is larger than ${maxBody} bytes` });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const injection = this.current;
      reviewAdmission(Buffer.concat(chunks).toString('utf8'), namespaces, injection)
        .then((answer) => {
          reply(answer.status, answer.body, answer.text);
          // After the answer: nothing below can delay it.
          const outcome = answer.result?.kind ?? (answer.status === 200 ? 'not-a-pod-creation' : 'bad-request');
          this.decisions.inc({ outcome });
          const log = this.webhookLog;
          if (answer.result?.kind === 'injected') log.info({ pod: answer.pod?.name, namespace: answer.pod?.namespace, code: answer.result.code }, 'pod injected');
          else if (answer.result?.kind === 'skipped') log.info({ pod: answer.pod?.name, namespace: answer.pod?.namespace, code: answer.result.code, reason: answer.result.reason }, 'pod skipped');
          else if (answer.result?.kind === 'refused') log.warn({ pod: answer.pod?.name, namespace: answer.pod?.namespace, reason: answer.result.message }, 'pod refused');
          else if (answer.status !== 200) log.warn({ error: answer.body }, 'unreadable admission request');
          const event = podInjectionEvent(answer, { replica: this.config.replicaId, proxyVersion: injection.proxyVersion });
          if (event) this.events.offer(event);
        })
        .catch((err: unknown) => {
          this.host.logger.error({ err }, 'admission review failed');
          reply(500, { error: 'the injector failed; see its logs' });
        });
    });
  }

  async stop(): Promise<void> {
    await this.host.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Creates the injector: the HTTPS admission webhook, its event publisher and the admin server. Nothing happens until `start()`. */
export function createInjectorService(config: InjectorConfig, overrides: InjectorOverrides = {}): InjectorService {
  const logger = overrides.logger ?? createLogger({ service: 'injector', level: config.logLevel });
  const registry = overrides.registry ?? createMetricsRegistry('injector');
  const events =
    overrides.events ??
    (config.events.enabled
      ? new BusPodEvents({
          bus: config.events.bus,
          capacity: config.events.capacity,
          source: `/meshbus/injector/${config.replicaId}`,
          registry,
          logger: logger.child({ replica: config.replicaId, component: 'events' }),
        })
      : noEvents);
  const host = new ServiceHost<PodEventSink>({
    service: 'injector',
    replicaId: config.replicaId,
    admin: config.admin,
    logger,
    registry,
    connect: eventsConnection(events),
  });
  return new InjectorServiceImpl(config, host, events, overrides);
}
