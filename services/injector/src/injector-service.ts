import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, createLogger, createMetricsRegistry, ServiceHost, type HostConnection, type Logger, type Registry, type Service, type ServiceState } from '@meshbus/runtime';
import { reviewAdmission, type NamespaceLookup } from './admission.js';
import type { InjectorConfig } from './config.js';
import { FolderNamespaceLookup } from './namespace-lookup.js';

/** Bodies larger than this are refused (a pod's AdmissionReview is a few kilobytes). */
const maxBody = 4 * 1024 * 1024;

/** The running injector. */
export interface InjectorService extends Service {
  readonly state: ServiceState;
  readonly adminUrl: string;
  /** `https://host:port` of the webhook, once started. */
  readonly webhookUrl: string;
}

/** Dependencies a test may replace. */
export interface InjectorOverrides {
  logger?: Logger;
  registry?: Registry;
  namespaces?: NamespaceLookup;
}

/** The injector runs on no bus: its host's connection is a placeholder that is always up. */
const noBus = async (): Promise<HostConnection<undefined>> => ({ client: undefined, connected: true, onReconnect: () => undefined, release: async () => undefined });

class InjectorServiceImpl implements InjectorService {
  private server: Server | undefined;
  private readonly decisions: Counter;

  constructor(
    private readonly config: InjectorConfig,
    private readonly host: ServiceHost<undefined>,
    private readonly namespaces: NamespaceLookup,
  ) {
    this.decisions = new Counter({ name: 'meshbus_injector_admissions_total', help: 'Pod admissions answered, by outcome.', labelNames: ['outcome'], registers: [host.registry] });
    host.readiness.add('webhook', () => (this.server?.listening ? undefined : 'webhook not listening'));
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get adminUrl(): string {
    return this.host.adminUrl;
  }

  get webhookUrl(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the webhook is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `https://${host}:${address.port}`;
  }

  async start(): Promise<void> {
    await this.host.start(async () => {
      const [cert, key] = await Promise.all([readFile(this.config.tlsCertFile), readFile(this.config.tlsKeyFile)]);
      const server = createServer({ cert, key }, (req, res) => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
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
          reviewAdmission(Buffer.concat(chunks).toString('utf8'), this.namespaces, this.config.injection)
            .then((answer) => {
              const outcome = answer.result?.kind ?? 'bad-request';
              this.decisions.inc({ outcome });
              const log = this.host.logger.child({ component: 'webhook' });
              if (answer.result?.kind === 'injected') log.info({ pod: answer.pod }, 'pod injected');
              else if (answer.result?.kind === 'skipped') log.info({ pod: answer.pod, reason: answer.result.reason }, 'pod skipped');
              else if (answer.result?.kind === 'refused') log.warn({ pod: answer.pod, reason: answer.result.message }, 'pod refused');
              else log.warn({ error: answer.body }, 'unreadable admission request');
              reply(answer.status, answer.body);
            })
            .catch((err: unknown) => {
              this.host.logger.error({ err }, 'admission review failed');
              reply(500, { error: 'the injector failed; see its logs' });
            });
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.config.webhook.port, this.config.webhook.host, () => resolve());
      });
      this.server = server;
      this.host.resources.defer(server, () => new Promise<void>((resolve) => server.close(() => resolve())));
      this.host.logger.info({ webhook: this.webhookUrl, manifests: this.config.manifestsDir }, 'injector started');
    });
  }

  async stop(): Promise<void> {
    await this.host.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Creates the injector: the HTTPS admission webhook and the admin server. Nothing happens until `start()`. */
export function createInjectorService(config: InjectorConfig, overrides: InjectorOverrides = {}): InjectorService {
  const logger = overrides.logger ?? createLogger({ service: 'injector', level: config.logLevel });
  const host = new ServiceHost<undefined>({
    service: 'injector',
    replicaId: config.replicaId,
    admin: config.admin,
    logger,
    registry: overrides.registry ?? createMetricsRegistry('injector'),
    connect: noBus,
  });
  return new InjectorServiceImpl(config, host, overrides.namespaces ?? new FolderNamespaceLookup(config.manifestsDir));
}
