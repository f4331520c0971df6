import type { NatsConnection } from 'nats';
import { DiscardPolicy, RetentionPolicy, StorageType, nanos } from 'nats';
import { ensureStreamConfig, ensureStreams, JetStreamPublisher, LeaderElection, StateView, type BusEvent, type Publisher } from '@meshbus/bus';
import { busValidator, streams, subjects, type EventDataMap } from '@meshbus/bus-schemas';
import type { MeshResources, ResourceSource } from '@meshbus/manifests';
import { errorMessage, Gauge, type Logger, type Service, type ServiceHost, type ServiceState } from '@meshbus/runtime';
import { linkStreamConfig, linkStreamName } from '@meshbus/local-nats';
import type { MulticlusterConfig } from './config.js';
import { computeExports, endpointSetKey, type LocalService, type PublishedEndpoints } from './exports.js';
import { computeMirrors, mirrorChanges, nextMirrorDeadline, type LinkHealth, type LinkObservation, type LinkStatus, type MirroredService, type ServiceExport } from './mirror.js';

/** The running multicluster service. */
export interface MulticlusterService extends Service {
  readonly state: ServiceState;
  readonly isLeader: boolean;
  readonly adminUrl: string;
  /** The links as last computed. */
  readonly links: readonly LinkStatus[];
}

/** The bus schemas want at least one port and one gateway address; the computation never makes an empty list of either. */
function nonEmpty<T>(xs: readonly T[], what: string): [T, ...T[]] {
  if (xs.length === 0) throw new Error(`${what} is empty`);
  return [...xs] as [T, ...T[]];
}

function exportData(x: ServiceExport): EventDataMap['serviceExport'] {
  return { ...x, ports: nonEmpty(x.ports, `ports of ${x.namespace}/${x.service}`), identities: [...x.identities] };
}

function mirrorData(m: MirroredService): EventDataMap['mirroredService'] {
  return {
    ...m,
    ports: nonEmpty(m.ports, `ports of ${m.namespace}/${m.service}`),
    gateway: { identity: m.gateway.identity, addresses: nonEmpty(m.gateway.addresses, `gateway addresses of ${m.cluster}`) },
    identities: [...m.identities],
  };
}

function localServices(resources: MeshResources): LocalService[] {
  return resources.services.map((s) => ({
    namespace: s.namespace,
    name: s.name,
    labels: s.labels,
    ports: s.ports.map((p) => ({
      port: p.port,
      ...(p.name === undefined ? {} : { name: p.name }),
      ...(s.opaquePorts.some((r) => p.port >= r.min && p.port <= r.max) ? { opaque: true } : {}),
    })),
  }));
}

/**
 * The multicluster service. Every replica reads this cluster's Services and
 * endpoint sets and what each linked cluster delivers over its link; the
 * replica holding the `multicluster` lease publishes this cluster's exports
 * and gateway heartbeat on MESHBUS_EXPORTS, and the mirrored services of the
 * linked clusters on MESHBUS_STATE, each only when it changed.
 */
export class MulticlusterServiceImpl implements MulticlusterService {
  private readonly logger: Logger;
  private readonly now: () => number;
  private publisher: Publisher | undefined;
  private election: LeaderElection | undefined;
  private stateView: StateView | undefined;
  private exportsView: StateView | undefined;
  private readonly linkViews = new Map<string, StateView>();
  private readonly heartbeatReceivedAt = new Map<string, number>();
  private readonly followedSince = new Map<string, number>();
  private services: LocalService[] = [];
  private manifestsRead = false;
  private lastLinks: LinkStatus[] = [];
  private announcedHealth = new Map<string, LinkHealth>();
  private running: Promise<void> | undefined;
  private again = false;
  private deadline: NodeJS.Timeout | undefined;
  private readonly leaderGauge: Gauge;
  private readonly linkGauge: Gauge<'cluster' | 'health'>;
  private readonly mirroredGauge: Gauge<'cluster'>;
  private readonly exportedGauge: Gauge;

  constructor(
    private readonly config: MulticlusterConfig,
    private readonly host: ServiceHost<NatsConnection>,
    private readonly source: ResourceSource,
    now: () => number = Date.now,
  ) {
    this.logger = host.logger;
    this.now = now;
    host.readiness.add('state', () => (this.stateView?.ready && this.exportsView?.ready ? undefined : 'bus state not synced'));
    host.readiness.add('manifests', () => (this.manifestsRead ? undefined : 'manifests not read'));
    this.leaderGauge = new Gauge({ name: 'meshbus_multicluster_leader', help: '1 while this replica holds the multicluster lease.', registers: [host.registry] });
    this.linkGauge = new Gauge({ name: 'meshbus_multicluster_link_health', help: '1 for the current health of each linked cluster (live, quiet, gone, refused).', labelNames: ['cluster', 'health'], registers: [host.registry] });
    this.mirroredGauge = new Gauge({ name: 'meshbus_multicluster_mirrored_services', help: 'Services mirrored from each linked cluster.', labelNames: ['cluster'], registers: [host.registry] });
    this.exportedGauge = new Gauge({ name: 'meshbus_multicluster_exported_services', help: 'Services this cluster exports.', registers: [host.registry] });
  }

  get isLeader(): boolean {
    return this.election?.isLeader ?? false;
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get adminUrl(): string {
    return this.host.adminUrl;
  }

  get links(): readonly LinkStatus[] {
    return this.lastLinks;
  }

  async start(): Promise<void> {
    await this.host.start((nc) => this.startOnBus(nc));
    if (this.state === 'started') this.logger.info({ cluster: this.config.cluster, links: this.config.links, exporting: this.config.gateway.addresses.length > 0 }, 'multicluster started');
  }

  private async startOnBus(nc: NatsConnection): Promise<void> {
    const { config, logger } = this;
    const resources = this.host.resources;
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, { replicas: config.streamReplicas, eventsMaxAgeMs: config.eventsMaxAgeMs, logger });
    const common = { retention: RetentionPolicy.Limits, max_msgs_per_subject: 1, discard: DiscardPolicy.Old, storage: StorageType.File, num_replicas: config.streamReplicas, duplicate_window: nanos(60_000) };
    await ensureStreamConfig(jsm, { ...common, name: streams.exports.name, subjects: [...streams.exports.subjects], description: 'meshbus exports: what this cluster offers linked clusters' }, { logger });
    for (const remote of config.links) {
      await ensureStreamConfig(jsm, { ...common, name: linkStreamName(remote), sources: linkStreamConfig(config.cluster, remote).sources, description: `meshbus link: what cluster ${remote} exports, as received` }, { logger });
    }
    const validator = busValidator();
    this.publisher = new JetStreamPublisher({ js: nc.jetstream(), validator, source: `/meshbus/multicluster/${config.replicaId}`, registry: this.host.registry, term: () => this.election?.term });

    const view = (stream: string, filter: string, component: string) =>
      new StateView({ nc, stream, filter, validator, logger: logger.child({ component }), registry: this.host.registry, onChange: (subject, value) => this.onChange(stream, subject, value) });
    this.stateView = view(streams.state.name, subjects.allState, 'state-view');
    this.exportsView = view(streams.exports.name, subjects.allExports, 'exports-view');
    for (const v of [this.stateView, this.exportsView]) {
      await v.start();
      resources.defer(v, () => v.stop());
    }
    for (const remote of config.links) {
      this.followedSince.set(remote, this.now());
      const v = view(linkStreamName(remote), subjects.allExports, `link-${remote}`);
      this.linkViews.set(remote, v);
      // A link that is down holds nothing yet; its view catches up once the link delivers.
      void v.start().then(
        () => this.initialHeartbeat(remote),
        (err: unknown) => logger.warn({ cluster: remote, err: errorMessage(err) }, 'could not follow the link stream'),
      );
      resources.defer(v, () => v.stop());
    }

    await this.source.start((meshResources) => {
      this.services = localServices(meshResources);
      this.manifestsRead = true;
      this.schedule();
    });
    resources.use(this.source);

    const election = new LeaderElection({
      nc,
      role: 'multicluster',
      holder: config.replicaId,
      leaseMs: config.leaseMs,
      replicas: config.streamReplicas,
      logger: logger.child({ component: 'leader-election' }),
      onElected: (term) => {
        this.leaderGauge.set(1);
        this.announcedHealth = new Map();
        this.schedule();
        void this.announceLeadership(term);
      },
      onDeposed: () => this.leaderGauge.set(0),
    });
    this.election = election;
    await election.start();
    resources.defer(election, () => election.stop());

    const heartbeat = setInterval(() => void this.beat(), config.heartbeatIntervalMs);
    const tick = setInterval(() => this.schedule(), 1000);
    resources.defer(null, () => {
      clearInterval(heartbeat);
      clearInterval(tick);
      if (this.deadline) clearTimeout(this.deadline);
    });
    this.schedule();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.host.stop(async () => {
      await this.running;
    });
  }

  /** The newest heartbeat read while catching up counts from when it was sent, never from the future. */
  private initialHeartbeat(remote: string): void {
    const beat = this.linkViews.get(remote)?.get(subjects.clusterGateway(remote));
    if (beat && !this.heartbeatReceivedAt.has(remote)) this.heartbeatReceivedAt.set(remote, Math.min(this.now(), Date.parse(beat.time) || 0));
    this.schedule();
  }

  private onChange(stream: string, subject: string, value: BusEvent | undefined): void {
    for (const [remote, v] of this.linkViews) {
      if (linkStreamName(remote) === stream && subject === subjects.clusterGateway(remote) && value && v.ready) this.heartbeatReceivedAt.set(remote, this.now());
    }
    this.schedule();
  }

  private observations(): LinkObservation[] {
    return this.config.links.map((remote) => {
      const v = this.linkViews.get(remote);
      const exports = new Map<string, ServiceExport>();
      let gateway: LinkObservation['gateway'];
      for (const e of v?.values('serviceExport') ?? []) {
        const data = e.data as EventDataMap['serviceExport'];
        exports.set(`${data.namespace}/${data.service}`, data);
      }
      const beat = v?.get(subjects.clusterGateway(remote));
      const receivedAtMs = this.heartbeatReceivedAt.get(remote);
      if (beat && beat.kind === 'clusterGateway' && receivedAtMs !== undefined) gateway = { beat: beat.data as EventDataMap['clusterGateway'], receivedAtMs };
      return { cluster: remote, exports, followedSinceMs: this.followedSince.get(remote) ?? this.now(), ...(gateway ? { gateway } : {}) };
    });
  }

  /** Runs one reconciliation at a time; a change during one runs another after it. */
  private schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'multicluster reconciliation failed; trying again'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async reconcile(): Promise<void> {
    const state = this.stateView;
    const exportsView = this.exportsView;
    if (!state?.ready || !exportsView?.ready || !this.manifestsRead) return;
    const now = this.now();
    const links = this.observations();
    const local = new Set(this.services.map((s) => `${s.namespace}/${s.name}`));
    const result = computeMirrors(links, local, now, { trustDomain: this.config.trustDomain, graceMs: this.config.graceMs, missedBeats: 3 });
    this.lastLinks = [...result.links];
    this.linkGauge.reset();
    this.mirroredGauge.reset();
    for (const l of result.links) {
      this.linkGauge.set({ cluster: l.cluster, health: l.health }, 1);
      this.mirroredGauge.set({ cluster: l.cluster }, l.mirrored);
    }
    const next = nextMirrorDeadline(links, now, { trustDomain: this.config.trustDomain, graceMs: this.config.graceMs, missedBeats: 3 });
    if (this.deadline) clearTimeout(this.deadline);
    if (next !== undefined) this.deadline = setTimeout(() => this.schedule(), Math.max(0, next - now)).unref();

    const exporting = this.config.gateway.addresses.length > 0;
    const endpointSets = new Map<string, PublishedEndpoints>();
    if (exporting) {
      for (const e of state.values('endpointSet')) {
        const d = e.data as EventDataMap['endpointSet'];
        endpointSets.set(endpointSetKey(d.namespace, d.service, d.port), d);
      }
    }
    const exports = exporting ? computeExports(this.config.cluster, this.services, endpointSets) : [];
    this.exportedGauge.set(exports.length);
    if (!this.isLeader || !this.host.connected) return;
    const publisher = this.publisher!;

    // Exports: what differs from MESHBUS_EXPORTS.
    const wanted = new Map(exports.map((x) => [subjects.serviceExport(x.namespace, x.service), exportData(x)]));
    for (const [subject, data] of wanted) {
      const current = exportsView.get(subject);
      if (current?.kind === 'serviceExport' && JSON.stringify(current.data) === JSON.stringify(data)) continue;
      await publisher.publish('serviceExport', subject, `${data.namespace}/${data.service}`, data);
    }
    for (const e of [...exportsView.values('serviceExport')]) {
      if (!wanted.has(e.natsSubject)) await publisher.publish('serviceExportWithdrawn', e.natsSubject, e.subject, { reason: 'service no longer exported' });
    }

    // Mirrors: what differs from MESHBUS_STATE.
    const onBus = new Map<string, MirroredService>();
    for (const e of state.values('mirroredService')) {
      const d = e.data as EventDataMap['mirroredService'];
      onBus.set(`${d.namespace}/${d.service}`, d);
    }
    const { upserts, removed } = mirrorChanges(onBus, result.mirrors);
    for (const m of upserts) await publisher.publish('mirroredService', subjects.mirroredService(m.namespace, m.service), `${m.namespace}/${m.service}`, mirrorData(m));
    for (const key of removed) {
      const [namespace, service] = key.split('/') as [string, string];
      const link = result.links.find((l) => l.cluster === onBus.get(key)?.cluster);
      await publisher.publish('mirroredServiceDeleted', subjects.mirroredService(namespace, service), key, { reason: link?.reason ?? 'the export was withdrawn' });
    }
    for (const p of result.problems) this.logger.warn({ cluster: p.cluster, export: p.export, reason: p.reason }, 'export not mirrored');

    // Link health changes, once each.
    for (const l of result.links) {
      const previous = this.announcedHealth.get(l.cluster);
      if (previous === l.health) continue;
      await publisher.publish('linkChanged', subjects.linkChanged(l.cluster), l.cluster, {
        cluster: l.cluster,
        health: l.health,
        previous: previous ?? 'unknown',
        mirrored: l.mirrored,
        ...(l.heartbeatAgeMs === undefined ? {} : { heartbeatAgeMs: Math.round(l.heartbeatAgeMs) }),
        ...(l.reason === undefined ? {} : { reason: l.reason }),
      });
      this.announcedHealth.set(l.cluster, l.health);
      this.logger.info({ cluster: l.cluster, health: l.health, previous: previous ?? 'unknown', mirrored: l.mirrored, reason: l.reason }, 'link health changed');
    }
  }

  /** The gateway heartbeat, while this replica leads and the cluster exports. */
  private async beat(): Promise<void> {
    const { gateway, cluster, trustDomain, heartbeatIntervalMs } = this.config;
    if (!this.isLeader || gateway.addresses.length === 0 || !this.host.connected) return;
    try {
      await this.publisher!.publish('clusterGateway', subjects.clusterGateway(cluster), cluster, { cluster, trustDomain, identity: gateway.identity, addresses: nonEmpty(gateway.addresses, 'MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES'), intervalMs: heartbeatIntervalMs });
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'could not publish the gateway heartbeat');
    }
  }

  private async announceLeadership(term: number): Promise<void> {
    for (let attempt = 1; attempt <= 10 && this.isLeader && this.state !== 'destroyed'; attempt++) {
      try {
        await this.publisher!.publish('leaderChanged', subjects.leader('multicluster'), 'multicluster', { role: 'multicluster', holder: this.config.replicaId, term });
        await this.beat();
        return;
      } catch (err) {
        this.logger.warn({ err: errorMessage(err), attempt }, 'could not publish leader.changed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }
}
