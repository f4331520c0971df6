import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, type Logger, type Service, type ServiceHost, type ServiceState } from '@meshbus/runtime';
import { reviewAdmission, type NamespaceLookup } from './admission.js';
import { injectionTrust, type InjectorConfig } from './config.js';
import type { InjectionConfig } from './inject.js';
import { BusPodEvents, podInjectionEvent, type PodEventSink } from './pod-events.js';
import type { TrustMaterial, TrustMaterialFiles } from './trust-material.js';

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

/** A namespace source with a lifecycle (the informer); the folder lookup has none. */
export interface StartedLookup extends NamespaceLookup {
  readonly ready?: boolean;
  stop?(): Promise<void>;
}

/** What the injector runs on besides its host; each is made by the composition root. */
export interface InjectorAdapters {
  /** Where the event of each answer goes (the bus publisher, or nothing with events off). */
  readonly events: PodEventSink;
  /** The namespace source, made and started when the service starts. */
  readonly namespaces: () => Promise<StartedLookup>;
  /** The trust files given to injected proxies. */
  readonly trust: TrustMaterialFiles;
}

/**
 * The injector on its service host: the HTTPS admission webhook answering from the namespace
 * source and the current trust material, handing the event of each answer to the sink.
 */
export class InjectorServiceImpl implements InjectorService {
  private server: Server | undefined;
  private readonly decisions: Counter;
  private readonly webhookLog: Logger;
  private namespaces: StartedLookup | undefined;
  /** The injection settings with the trust material they were made of (undefined: as configured). */
  private current: { readonly material: TrustMaterial | undefined; readonly injection: InjectionConfig };
  private readonly events: PodEventSink;
  private readonly trust: TrustMaterialFiles;
  private trustRead = false;

  constructor(
    private readonly config: InjectorConfig,
    private readonly host: ServiceHost<PodEventSink>,
    private readonly adapters: InjectorAdapters,
  ) {
    this.events = adapters.events;
    this.trust = adapters.trust;
    this.current = { material: undefined, injection: config.injection };
    this.webhookLog = host.logger.child({ component: 'webhook' });
    this.decisions = new Counter({ name: 'meshbus_injector_admissions_total', help: 'Pod admissions answered, by outcome.', labelNames: ['outcome'], registers: [host.registry] });
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
    if (!this.trustRead) return this.current.injection;
    // The files' material is replaced only when it changes: the settings are made again then only.
    const material = this.trust.current;
    if (material !== this.current.material) this.current = { material, injection: { ...this.config.injection, ...injectionTrust(material) } };
    return this.current.injection;
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
        const namespaces = await this.adapters.namespaces();
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
        this.trustRead = true;
        this.host.resources.defer(this.trust, async () => this.trust.stop());
      },
    );
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
      const injection = this.injection;
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
