/*
 * The proxy: the composition of its libraries beside one workload. It gets
 * its certificate through Identity, watches the control plane, and runs the
 * outbound, inbound and admin listeners; in gateway mode, the multicluster
 * gateway's tunnel listener and the admin listener only. See docs/proxy.md.
 */
import { readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import type { CertificateClient } from '@meshbus/identity-client';
import type { inbound } from '@meshbus/proxy-api';
import { meshbusVersion } from '@meshbus/core';
import { envInt, errorMessage, silentLogger, type Env, type Logger } from '@meshbus/runtime';
import {
  ControlClient,
  ControlMetrics,
  createCertificateClient,
  gatewayChannelOptions,
  gatewayCredentials,
  ProxyAdmin,
  proxyReadiness,
  proxyConfigFromEnv,
  PROXY_DEFAULTS,
  type ProxyConfig,
  type WatchHandle,
} from './control/index.js';
import { ControlDiscovery } from './data/discovery.js';
import { DiscoveryResolver, MulticlusterGateway, trustDomainAllowList, TUNNEL_ALPN } from './gateway/index.js';
import { InboundProxy } from './data/inbound-proxy.js';
import { OutboundProxy } from './data/outbound-proxy.js';
import { listenDualStack, TransparentOutbound, transparentInboundPort } from './data/transparent.js';
import { AccessLog, IdentityMetrics, ProxyMetrics, registerProcessMetrics } from './metrics/index.js';
import { TapClient } from './tap/index.js';
import { TelemetryReporter, TrafficSummarizer } from './telemetry/index.js';
import { MeshTls } from './tls/index.js';
import { createRequestTracer, tracingConfigFromEnv, type RequestTracer, type TracingConfig } from './tracing/index.js';

/** What a test (or `meshbus run`) may replace. */
export interface ProxyOverrides {
  logger?: Logger;
  /** The certificate client; by default one on the configured gateways and token. */
  certificates?: CertificateClient;
  /** Where access-log lines go. @default stdout */
  accessLogSink?: (line: string) => void;
}

/** Options of {@link Proxy} beyond {@link ProxyConfig}. */
export interface ProxyOptions {
  /**
   * The inbound port of the other proxies, where mesh TLS to a meshed
   * endpoint goes when Destination gives none. @default this proxy's own inbound port
   */
  peerInboundPort?: number;
  /** How long a request (or a redirected connection) waits for the first policy of a new target. @default 5s */
  policyTimeoutMs?: number;
  /** Trace propagation and span export (docs/proxy-tracing.md). @default propagation only, no export */
  tracing?: TracingConfig;
}

/** The configuration of the process from its environment: the proxy's, and the options only the data path reads. */
export function proxyProcessConfig(env: Env): { config: ProxyConfig; options: ProxyOptions } {
  const config = proxyConfigFromEnv(env);
  return { config, options: { peerInboundPort: envInt(env, 'MESHBUS_PROXY_PEER_INBOUND_PORT', config.listeners.inbound.port, { min: 1, max: 65535 }), tracing: tracingConfigFromEnv(env) } };
}

/** The version in `proxy_build_info`. */
export const proxyVersion = meshbusVersion;

type State = 'initialized' | 'starting' | 'started' | 'stopping' | 'stopped';

/**
 * One proxy. `start()` obtains the certificate, opens the inbound policy
 * watches and binds the listeners; `stop()` drains (the grace period of the
 * configuration) and releases everything in reverse order.
 */
export class Proxy {
  readonly registry = new Registry();
  readonly metrics: ProxyMetrics;
  readonly certificates: CertificateClient;
  private readonly logger: Logger;
  private readonly control: ControlClient;
  private readonly inboundWatches = new Map<number, WatchHandle<inbound.Server>>();
  private readonly discovery: ControlDiscovery;
  private readonly admin: ProxyAdmin;
  private readonly accessLog: AccessLog | undefined;
  private readonly tracer: RequestTracer;
  /** Sends traffic summaries to the gateway; none when the interval is 0. */
  private readonly telemetry: TelemetryReporter | undefined;
  /** The Tap/Watch stream; none with `MESHBUS_PROXY_TAP=off`. */
  readonly tap: TapClient | undefined;
  private meshTls: MeshTls | undefined;
  private inboundProxy: InboundProxy | undefined;
  private outboundProxy: OutboundProxy | undefined;
  /** Gateway mode's tunnel listener. */
  private gateway: MulticlusterGateway | undefined;
  /** The outbound listener of transparent and ingress modes. */
  private transparentOutbound: TransparentOutbound | undefined;
  private state: State = 'initialized';
  private stopping: Promise<void> | undefined;
  private readonly shutdownRequested: Promise<void>;
  private requestShutdown!: () => void;

  constructor(
    readonly config: ProxyConfig,
    private readonly options: ProxyOptions = {},
    overrides: ProxyOverrides = {},
  ) {
    this.logger = overrides.logger ?? silentLogger();
    const telemetryIntervalMs = config.telemetryIntervalMs ?? PROXY_DEFAULTS.telemetryIntervalMs;
    const summarizer = telemetryIntervalMs > 0 ? new TrafficSummarizer() : undefined;
    this.metrics = new ProxyMetrics(this.registry, summarizer ? { sink: summarizer } : {});
    this.certificates = overrides.certificates ?? createCertificateClient(config, { logger: this.logger.child({ component: 'identity' }) });
    if (summarizer) {
      this.telemetry = new TelemetryReporter({
        gateways: config.gateways,
        credentials: gatewayCredentials(config.gatewayTransport),
        channelOptions: gatewayChannelOptions(config.gatewayTransport),
        summarizer,
        beforeDrain: () => this.metrics.flushConnectionBytes(),
        certificate: () => this.certificates.current,
        instance: config.workload.name,
        intervalMs: telemetryIntervalMs,
        logger: this.logger.child({ component: 'telemetry' }),
      });
    }
    const tapConfig = config.tap ?? { enabled: true, headers: undefined };
    if (tapConfig.enabled) {
      this.tap = new TapClient({
        gateways: config.gateways,
        credentials: gatewayCredentials(config.gatewayTransport),
        channelOptions: gatewayChannelOptions(config.gatewayTransport),
        certificate: () => this.certificates.current,
        instance: config.workload.name,
        ...(tapConfig.headers ? { headers: new Set(tapConfig.headers) } : {}),
        registry: this.registry,
        logger: this.logger.child({ component: 'tap' }),
      });
    }
    const controlMetrics = new ControlMetrics(this.registry, { certificate: this.certificates });
    registerProcessMetrics(this.registry, { version: proxyVersion });
    const identityMetrics = new IdentityMetrics(this.registry);
    this.certificates.on('certificate', (certificate) => identityMetrics.certificateObtained(certificate.validUntil));
    this.control = new ControlClient({
      gateways: config.gateways,
      credentials: gatewayCredentials(config.gatewayTransport),
      channelOptions: gatewayChannelOptions(config.gatewayTransport) as Record<string, string | number>,
      workload: config.workload.workloadRef,
      limits: config.streams,
      observer: controlMetrics,
      logger: this.logger.child({ component: 'control' }),
    });
    // A gateway serves no workload: it has no inbound policies to wait for.
    if (config.mode !== 'gateway') for (const port of config.inboundPorts) this.inboundWatches.set(port, this.control.inboundPolicy(port));
    this.discovery = new ControlDiscovery(this.control, this.inboundWatches);
    this.tracer = createRequestTracer(options.tracing ?? tracingConfigFromEnv({}), { registry: this.registry, workload: config.workload, version: proxyVersion });
    if (config.accessLog !== 'off') this.accessLog = new AccessLog({ format: config.accessLog }, overrides.accessLogSink ?? ((line) => process.stdout.write(`${line}\n`)));
    this.shutdownRequested = new Promise((resolve) => (this.requestShutdown = resolve));
    const readiness = proxyReadiness({ certificate: this.certificates, inboundPolicies: this.inboundWatches });
    this.admin = new ProxyAdmin({
      host: config.listeners.admin.host,
      port: config.listeners.admin.port,
      registry: this.registry,
      readiness: () => readiness.evaluate(),
      onShutdown: () => this.requestShutdown(),
      logger: this.logger.child({ component: 'admin' }),
    });
  }

  /** Resolves when `POST /shutdown` asked the proxy to stop. */
  get shutdown(): Promise<void> {
    return this.shutdownRequested;
  }

  /** Gateway mode: the bound port of the tunnel listener (after {@link start}). */
  get gatewayPort(): number {
    if (!this.gateway) throw new Error('the proxy is not started in gateway mode');
    return this.gateway.port;
  }

  /** The bound ports (after {@link start}). */
  get ports(): { outbound: number; inbound: number; admin: number } {
    if (!this.inboundProxy || !this.outboundProxy) throw new Error('the proxy is not started');
    return { outbound: (this.transparentOutbound ?? this.outboundProxy).port, inbound: this.inboundProxy.port, admin: this.admin.port };
  }

  get adminUrl(): string {
    return this.admin.url;
  }

  /** The mesh TLS of the proxy (after {@link start}). */
  get tls(): MeshTls {
    if (!this.meshTls) throw new Error('the proxy is not started');
    return this.meshTls;
  }

  /**
   * Starts the admin listener first (so /ready says what is missing), then
   * waits for the certificate and binds the inbound and outbound listeners.
   */
  async start(): Promise<void> {
    if (this.state !== 'initialized') throw new Error(`the proxy cannot start: it is ${this.state}`);
    this.state = 'starting';
    const { config } = this;
    await this.admin.start();
    const anchors = config.trustAnchors;
    const trustAnchorsPem =
      anchors.kind === 'pem'
        ? anchors.pem
        : await readFile(anchors.path, 'utf8').catch((error: unknown) => {
            throw new Error(`MESHBUS_PROXY_TRUST_ANCHORS: cannot read ${anchors.path}: ${errorMessage(error)}`);
          });
    const gatewayMode = config.mode === 'gateway';
    const meshTls = new MeshTls({
      trustAnchorsPem,
      certificates: this.certificates,
      logger: this.logger.child({ component: 'tls' }),
      ...(gatewayMode ? { serverAlpn: [TUNNEL_ALPN] } : {}),
    });
    meshTls.on('error', (error) => this.logger.error({ err: errorMessage(error) }, 'certificate refused; the previous one stays in use'));
    this.meshTls = meshTls;
    if (!this.certificates.current) await this.certificates.start();
    this.logger.info({ identity: meshTls.identity }, 'identity certificate obtained');
    if (gatewayMode) {
      await this.startGateway(meshTls);
      return;
    }

    const transparent = config.mode !== 'explicit';
    const inboundLogger = this.logger.child({ component: 'inbound' });
    this.inboundProxy = new InboundProxy({
      tls: meshTls,
      policy: (port) => (transparent ? this.discovery.inboundPolicyWatched(port) : this.discovery.inboundPolicy(port)),
      workloadHost: config.workloadAddress,
      ports: config.inboundPorts,
      metrics: this.metrics,
      accessLog: this.accessLog,
      tap: this.tap,
      tracer: this.tracer,
      logger: inboundLogger,
      ...(transparent
        ? {
            // Any workload port may be redirected here; never the proxy's own listeners.
            redirectedPort: transparentInboundPort({
              ownPorts: () => this.listenerPorts('inbound'),
              watchPort: (port) => this.discovery.watchInboundPort(port, this.options.policyTimeoutMs ?? 5_000),
              logger: inboundLogger,
            }),
            acceptsPort: (port: number) => !this.listenerPorts().includes(port),
          }
        : {}),
    });
    const inboundProxy = this.inboundProxy;
    if (transparent) await listenDualStack((host) => inboundProxy.listen(host, config.listeners.inbound.port), config.listeners.inbound.host);
    else await inboundProxy.listen(config.listeners.inbound.host, config.listeners.inbound.port);
    this.outboundProxy = new OutboundProxy({
      tls: meshTls,
      discovery: this.discovery,
      metrics: this.metrics,
      accessLog: this.accessLog,
      tap: this.tap,
      tracer: this.tracer,
      logger: this.logger.child({ component: 'outbound' }),
      clusterDomain: config.clusterDomain,
      peerInboundPort: this.options.peerInboundPort ?? this.inboundProxy.port,
      opaqueToEndpointAddress: transparent,
      ...(this.options.policyTimeoutMs !== undefined ? { policyTimeoutMs: this.options.policyTimeoutMs } : {}),
    });
    if (config.mode === 'explicit') {
      await this.outboundProxy.listen(config.listeners.outbound.host, config.listeners.outbound.port);
    } else {
      this.transparentOutbound = new TransparentOutbound({
        outbound: this.outboundProxy,
        discovery: this.discovery,
        mode: config.mode,
        clusterDomain: config.clusterDomain,
        ownPorts: () => this.listenerPorts('outbound'),
        logger: this.logger.child({ component: 'outbound' }),
        ...(this.options.policyTimeoutMs !== undefined ? { policyTimeoutMs: this.options.policyTimeoutMs } : {}),
      });
      await this.transparentOutbound.listen(config.listeners.outbound.host, config.listeners.outbound.port);
    }
    await this.outboundProxy.listenMappings(config.listeners.outbound.host === '0.0.0.0' ? '127.0.0.1' : config.listeners.outbound.host, config.portMappings);
    this.telemetry?.start();
    this.tap?.start();
    this.state = 'started';
    this.logger.info({ ...this.ports, mode: config.mode, identity: meshTls.identity }, 'proxy started');
  }

  /** Gateway mode: the tunnel listener on the proxy's Destination watches. */
  private async startGateway(meshTls: MeshTls): Promise<void> {
    const { config } = this;
    const settings = config.multiclusterGateway ?? { listener: { host: PROXY_DEFAULTS.listenHost, port: PROXY_DEFAULTS.gatewayPort }, allowedIdentities: undefined };
    this.gateway = new MulticlusterGateway({
      tls: meshTls,
      resolver: new DiscoveryResolver({
        discovery: this.discovery,
        peerInboundPort: this.options.peerInboundPort ?? config.listeners.inbound.port,
        ...(this.options.policyTimeoutMs !== undefined ? { timeoutMs: this.options.policyTimeoutMs } : {}),
      }),
      allowed: settings.allowedIdentities ?? trustDomainAllowList(meshTls.identity ?? config.workload.identity),
      clusterDomain: config.clusterDomain,
      registry: this.registry,
      metrics: this.metrics,
      accessLog: this.accessLog,
      logger: this.logger.child({ component: 'gateway' }),
    });
    await this.gateway.listen(settings.listener.host, settings.listener.port);
    this.telemetry?.start();
    this.tap?.start();
    this.state = 'started';
    this.logger.info({ gateway: this.gateway.port, admin: this.admin.port, mode: config.mode, identity: meshTls.identity }, 'proxy started');
  }

  /** The ports of the proxy's listeners bound so far, but for `except`'s own. */
  private listenerPorts(except?: 'inbound' | 'outbound'): number[] {
    const bound = (get: () => number): number[] => {
      try {
        return [get()];
      } catch {
        return [];
      }
    };
    const ports = [...bound(() => this.admin.port), ...this.config.portMappings.map((m) => m.localPort)];
    if (except !== 'inbound' && this.inboundProxy) ports.push(...bound(() => this.inboundProxy!.port));
    const outbound = this.transparentOutbound ?? this.outboundProxy;
    if (except !== 'outbound' && outbound) ports.push(...bound(() => outbound.port));
    return ports;
  }

  /** Stops accepting, drains within the grace period, and releases everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.state = 'stopping';
    const grace = this.config.shutdownGraceMs;
    await Promise.all([this.transparentOutbound?.close(), this.outboundProxy?.close(grace), this.inboundProxy?.close(grace), this.gateway?.close(grace)]);
    // Spans still queued go to the collector (within its export timeout); a dead one costs only them.
    await this.tracer.shutdown().catch((error: unknown) => this.logger.warn({ err: errorMessage(error) }, 'spans could not be sent at shutdown'));
    await this.telemetry?.close();
    this.tap?.close();
    await this.discovery.close();
    for (const handle of this.inboundWatches.values()) await handle.close();
    await this.control.close();
    await this.certificates[Symbol.asyncDispose]();
    await this.admin[Symbol.asyncDispose]();
    this.state = 'stopped';
    this.logger.info('proxy stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
