/*
 * Which services of linked clusters this cluster mirrors, and in what state.
 * Pure: the links as observed (the last gateway heartbeat of each linked
 * cluster and its exported services), the local services and the time in, the
 * mirrored services and the problems out. The multicluster leader runs it on
 * every change and every tick, and publishes what differs.
 *
 * A link is live while heartbeats arrive (at most `missedBeats` intervals
 * apart): its mirrors are ready when the remote service has ready endpoints.
 * A quiet link keeps its mirrors, not ready, so that a route splitting traffic
 * over them fails over to what is ready; past the grace period they are
 * removed. An export that is withdrawn removes its mirror at once.
 */

export interface GatewayAddress {
  readonly address: string;
  readonly port: number;
}

/** A linked cluster's gateway heartbeat (bus schema cluster-gateway). */
export interface ClusterGatewayBeat {
  readonly cluster: string;
  readonly trustDomain: string;
  readonly identity: string;
  readonly addresses: readonly GatewayAddress[];
  readonly intervalMs: number;
}

export interface ExportedPort {
  readonly port: number;
  readonly name?: string;
  readonly opaque?: boolean;
  readonly ready: number;
}

/** A service a linked cluster exports (bus schema service-export). */
export interface ServiceExport {
  readonly cluster: string;
  readonly namespace: string;
  readonly service: string;
  readonly ports: readonly ExportedPort[];
  readonly identities: readonly string[];
}

/** What this cluster has received from one linked cluster. */
export interface LinkObservation {
  /** The linked cluster's name, as the link was made. */
  readonly cluster: string;
  /** The newest heartbeat and when it arrived (epoch ms). */
  readonly gateway?: { readonly beat: ClusterGatewayBeat; readonly receivedAtMs: number };
  /** Exported services by `<namespace>/<service>`; withdrawn ones are absent. */
  readonly exports: ReadonlyMap<string, ServiceExport>;
  /** When this cluster started to follow the link (epoch ms): a link never heard from is gone after the grace period from then. */
  readonly followedSinceMs: number;
}

export interface MirrorSettings {
  /** This cluster's trust domain: a linked cluster must share it. */
  readonly trustDomain: string;
  /** How long a quiet link keeps its mirrors. @default 30 s */
  readonly graceMs: number;
  /** Heartbeat intervals without one before a link is quiet. @default 3 */
  readonly missedBeats: number;
}

export const defaultMirrorSettings: Omit<MirrorSettings, 'trustDomain'> = { graceMs: 30_000, missedBeats: 3 };

/** A mirrored service (bus schema mirrored-service). */
export interface MirroredService {
  readonly namespace: string;
  readonly service: string;
  readonly cluster: string;
  readonly remoteService: string;
  readonly ports: readonly ExportedPort[];
  readonly gateway: { readonly identity: string; readonly addresses: readonly GatewayAddress[] };
  readonly identities: readonly string[];
  readonly ready: boolean;
  readonly reason?: string;
}

export type LinkHealth = 'live' | 'quiet' | 'gone' | 'refused';

export interface LinkStatus {
  readonly cluster: string;
  readonly health: LinkHealth;
  /** Milliseconds since the last heartbeat, if one ever arrived. */
  readonly heartbeatAgeMs?: number;
  readonly exported: number;
  readonly mirrored: number;
  readonly reason?: string;
}

export interface MirrorProblem {
  readonly cluster: string;
  /** `<namespace>/<service>` of the export, when the problem is about one. */
  readonly export?: string;
  readonly reason: string;
}

export interface MirrorComputation {
  /** By `<namespace>/<local service>`. */
  readonly mirrors: ReadonlyMap<string, MirroredService>;
  readonly links: readonly LinkStatus[];
  readonly problems: readonly MirrorProblem[];
}

const maxServiceName = 63;

/** The local name of `service` mirrored from `cluster`. */
export function mirrorName(service: string, cluster: string): string {
  return `${service}-${cluster}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function health(link: LinkObservation, now: number, settings: MirrorSettings): { health: LinkHealth; ageMs?: number; reason?: string } {
  if (!link.gateway) {
    const waited = now - link.followedSinceMs;
    return waited > settings.graceMs
      ? { health: 'gone', reason: `no heartbeat from ${link.cluster} since the link was followed, ${seconds(waited)} ago` }
      : { health: 'quiet', reason: `waiting for the first heartbeat from ${link.cluster}` };
  }
  const { beat, receivedAtMs } = link.gateway;
  const ageMs = Math.max(0, now - receivedAtMs);
  if (beat.cluster !== link.cluster) return { health: 'refused', ageMs, reason: `the heartbeat on the link to ${link.cluster} names cluster ${beat.cluster}` };
  if (beat.trustDomain !== settings.trustDomain) {
    return { health: 'refused', ageMs, reason: `${link.cluster} has trust domain ${beat.trustDomain}, this cluster ${settings.trustDomain}: linked clusters share one trust domain` };
  }
  if (ageMs <= beat.intervalMs * settings.missedBeats) return { health: 'live', ageMs };
  if (ageMs <= settings.graceMs) return { health: 'quiet', ageMs, reason: `no heartbeat from ${link.cluster} for ${seconds(ageMs)}` };
  return { health: 'gone', ageMs, reason: `no heartbeat from ${link.cluster} for ${seconds(ageMs)}, past the grace period of ${seconds(settings.graceMs)}` };
}

/**
 * The mirrored services of every link. `localServices` holds the
 * `<namespace>/<service>` of this cluster's own services: a mirror never
 * takes a local name.
 */
export function computeMirrors(links: readonly LinkObservation[], localServices: ReadonlySet<string>, now: number, settings: MirrorSettings): MirrorComputation {
  const mirrors = new Map<string, MirroredService>();
  const statuses: LinkStatus[] = [];
  const problems: MirrorProblem[] = [];
  const seenClusters = new Set<string>();
  for (const link of [...links].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0))) {
    if (seenClusters.has(link.cluster)) {
      problems.push({ cluster: link.cluster, reason: `cluster ${link.cluster} is linked twice; the second link is ignored` });
      continue;
    }
    seenClusters.add(link.cluster);
    const state = health(link, now, settings);
    if (state.health === 'refused') problems.push({ cluster: link.cluster, reason: state.reason! });
    let mirrored = 0;
    if (state.health === 'live' || state.health === 'quiet') {
      for (const [key, exp] of [...link.exports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const problem = (reason: string) => problems.push({ cluster: link.cluster, export: key, reason });
        if (exp.cluster !== link.cluster) {
          problem(`exported as cluster ${exp.cluster} on the link to ${link.cluster}`);
          continue;
        }
        const name = mirrorName(exp.service, link.cluster);
        const localKey = `${exp.namespace}/${name}`;
        if (name.length > maxServiceName) {
          problem(`the mirror name ${name} is longer than ${maxServiceName} characters`);
          continue;
        }
        if (localServices.has(localKey)) {
          problem(`a local service ${localKey} exists; the export is not mirrored over it`);
          continue;
        }
        if (mirrors.has(localKey)) {
          problem(`${localKey} is already mirrored`);
          continue;
        }
        if (!link.gateway) {
          // Quiet before the first heartbeat: nothing to route to yet.
          continue;
        }
        const live = state.health === 'live';
        const ports = exp.ports.map((p) => ({ ...p, ready: live ? p.ready : 0 }));
        const ready = live && ports.some((p) => p.ready > 0);
        const reason = !live ? state.reason : ready ? undefined : `no ready endpoint of ${exp.namespace}/${exp.service} in ${link.cluster}`;
        mirrors.set(localKey, {
          namespace: exp.namespace,
          service: name,
          cluster: link.cluster,
          remoteService: exp.service,
          ports,
          gateway: { identity: link.gateway.beat.identity, addresses: link.gateway.beat.addresses },
          identities: [...exp.identities].sort(),
          ready,
          ...(reason === undefined ? {} : { reason }),
        });
        mirrored++;
      }
    }
    statuses.push({
      cluster: link.cluster,
      health: state.health,
      ...(state.ageMs === undefined ? {} : { heartbeatAgeMs: state.ageMs }),
      exported: link.exports.size,
      mirrored,
      ...(state.reason === undefined ? {} : { reason: state.reason }),
    });
  }
  return { mirrors, links: statuses, problems };
}

/** What to publish to go from `before` to `after`: changed or new mirrors, and the keys of removed ones. */
export function mirrorChanges(before: ReadonlyMap<string, MirroredService>, after: ReadonlyMap<string, MirroredService>): { upserts: MirroredService[]; removed: string[] } {
  const upserts: MirroredService[] = [];
  for (const [key, mirror] of after) {
    const old = before.get(key);
    if (!old || JSON.stringify(old) !== JSON.stringify(mirror)) upserts.push(mirror);
  }
  const removed = [...before.keys()].filter((key) => !after.has(key));
  return { upserts, removed };
}

/** The next time the result can change without new input: when a live link turns quiet or a quiet one gone. */
export function nextMirrorDeadline(links: readonly LinkObservation[], now: number, settings: MirrorSettings): number | undefined {
  let next: number | undefined;
  const consider = (t: number) => {
    if (t > now && (next === undefined || t < next)) next = t;
  };
  for (const link of links) {
    if (!link.gateway) {
      consider(link.followedSinceMs + settings.graceMs + 1);
      continue;
    }
    consider(link.gateway.receivedAtMs + link.gateway.beat.intervalMs * settings.missedBeats + 1);
    consider(link.gateway.receivedAtMs + settings.graceMs + 1);
  }
  return next;
}
