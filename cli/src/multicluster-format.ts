/*
 * What `meshbus multicluster` prints: the configuration pieces of a link, the
 * table of the links' health and the gateways seen. Pure: the command reads
 * the bus and hands the results here.
 */
import {
  leafnodeListenConfig,
  leafnodeRemotesConfig,
  linkStreamName,
  linkUser,
  natsAuthorizationConfig,
  rolePermissions,
  type LeafnodeListenTls,
  type LeafnodeRemoteTls,
} from '@meshbus/local-nats';
import { UsageError } from './errors.js';
import { formatTable } from './table.js';

/** What `meshbus multicluster link` was asked for. */
export interface LinkRequest {
  /** The exporting cluster, whose services the local cluster mirrors. */
  readonly remote: string;
  readonly local: string;
  /** `nats-leaf://<host>:<port>` of the remote cluster's leaf node listener. */
  readonly leafnodeUrl: string;
  readonly password: string;
  /** TLS of the leaf node connection; absent: in clear (only for a network the link does not cross). */
  readonly tls?: LinkTlsRequest;
}

/**
 * The files of a TLS leaf node connection, as the nats-servers read them: the
 * remote's listener serves `certFile`/`keyFile` and the local server checks it
 * with `caFile`. With `clientCertFile`/`clientKeyFile` the local server also
 * presents a certificate, which the listener checks with `clientCaFile`.
 */
export interface LinkTlsRequest {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  readonly clientCaFile?: string;
}

/** The pieces of configuration a link needs, each for where it goes. */
export interface LinkPlan {
  readonly remote: string;
  readonly local: string;
  readonly linkUser: string;
  /** For the remote cluster's nats-server: the link login, as an authorization block. */
  readonly remoteAuthorization: string;
  /** For the remote cluster's nats-server: the leaf node listener. */
  readonly remoteLeafnodes: string;
  /** For the local cluster's nats-server: the leaf node connection to the remote. */
  readonly localLeafnodes: string;
  /** What the local multicluster NATS user (role `multicluster`, `links` naming the remote) may do besides the role without links. */
  readonly localMulticlusterPermissions: readonly string[];
  /** The local stream the link fills. */
  readonly linkStream: string;
  /** The setting of the local multicluster service. */
  readonly serviceEnv: { readonly MESHBUS_MULTICLUSTER_LINKS: string };
  /** Whether the leaf node connection is TLS. */
  readonly tls: boolean;
}

/** The port of a leaf node URL: given, or 7422 (the nats-server default). */
function leafnodePort(text: string): number {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--leafnode-url ${JSON.stringify(text)} is not a URL: use nats-leaf://<host>:<port>`);
  }
  if (!['nats-leaf:', 'nats:', 'tls:'].includes(url.protocol) || url.hostname === '') {
    throw new UsageError(`--leafnode-url ${JSON.stringify(text)}: use nats-leaf://<host>:<port> (or nats:// or tls://)`);
  }
  if (url.username !== '' || url.password !== '') throw new UsageError(`--leafnode-url ${JSON.stringify(text)}: leave the login out, it is generated (--password sets the password)`);
  return url.port === '' ? 7422 : Number(url.port);
}

/** The TLS settings of both ends, or none; throws UsageError naming the flags. */
function linkTls(request: LinkRequest): { listen?: LeafnodeListenTls; remote?: LeafnodeRemoteTls } {
  const t = request.tls ?? {};
  const scheme = request.leafnodeUrl.split(':')[0];
  const wanted = Object.values(t).some((v) => v !== undefined) || scheme === 'tls';
  if (!wanted) return {};
  const missing = (['caFile', 'certFile', 'keyFile'] as const).filter((k) => t[k] === undefined);
  if (missing.length > 0) {
    const flag = { caFile: '--leafnode-ca', certFile: '--leafnode-cert', keyFile: '--leafnode-key' };
    throw new UsageError(`a TLS link needs ${missing.map((k) => flag[k]).join(', ')} too: --leafnode-cert and --leafnode-key for the listener of --name, --leafnode-ca for --local to check it with`);
  }
  if (scheme === 'nats') throw new UsageError(`--leafnode-url ${JSON.stringify(request.leafnodeUrl)}: a TLS link uses tls://<host>:<port> (or nats-leaf://)`);
  const client = [t.clientCertFile, t.clientKeyFile, t.clientCaFile];
  if (client.some((v) => v !== undefined) && client.some((v) => v === undefined)) {
    throw new UsageError('--leafnode-client-cert, --leafnode-client-key and --leafnode-client-ca go together: the certificate --local presents, and the CA the listener of --name checks it with');
  }
  const withClient = t.clientCertFile !== undefined;
  return {
    listen: { certFile: t.certFile!, keyFile: t.keyFile!, ...(withClient ? { caFile: t.clientCaFile!, verify: true } : {}) },
    remote: { caFile: t.caFile!, ...(withClient ? { certFile: t.clientCertFile!, keyFile: t.clientKeyFile! } : {}) },
  };
}

/** Everything to configure for `local` to mirror what `remote` exports. Throws UsageError on bad input. */
export function linkPlan(request: LinkRequest): LinkPlan {
  const { remote, local, leafnodeUrl, password } = request;
  if (remote === local) throw new UsageError(`--name and --local are both ${remote}: a cluster is not linked to itself`);
  const port = leafnodePort(leafnodeUrl);
  const tls = linkTls(request);
  try {
    const user = linkUser(remote, local, password);
    const withLinks = rolePermissions('multicluster', { links: [remote] }).publish;
    const without = new Set(rolePermissions('multicluster').publish);
    return {
      remote,
      local,
      linkUser: user.user,
      remoteAuthorization: natsAuthorizationConfig([], [user]),
      remoteLeafnodes: leafnodeListenConfig('0.0.0.0', port, tls.listen),
      localLeafnodes: leafnodeRemotesConfig([{ url: leafnodeUrl, user: user.user, password, ...(tls.remote ? { tls: tls.remote } : {}) }]),
      localMulticlusterPermissions: withLinks.filter((s) => !without.has(s)),
      linkStream: linkStreamName(remote),
      serviceEnv: { MESHBUS_MULTICLUSTER_LINKS: remote },
      tls: tls.remote !== undefined,
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** The plan as text: one section per place it goes. */
export function formatLinkPlan(plan: LinkPlan): string {
  return [
    `# 1. On ${plan.remote} (the exporting cluster): its nats-server configuration.`,
    `#    Add the user ${plan.linkUser} to the users of its authorization block (it may only source MESHBUS_EXPORTS),`,
    `#    and listen for leaf node connections (JetStream domain: ${plan.remote}).`,
    plan.tls
      ? `#    The listener's certificate must name the host of the leaf node URL ${plan.local} connects to.`
      : `#    No TLS: the link password and the exports cross in clear (see --leafnode-ca, --leafnode-cert, --leafnode-key).`,
    indent(plan.remoteAuthorization),
    indent(plan.remoteLeafnodes),
    '',
    `# 2. On ${plan.local}: its nats-server configuration (JetStream domain: ${plan.local}).`,
    indent(plan.localLeafnodes),
    `#    Its multicluster NATS user (role multicluster) needs the link stream ${plan.linkStream}:`,
    `#    generate the users with \`meshbus nats-auth --links ${plan.remote}\` (which also lets the reader read it); that adds:`,
    ...plan.localMulticlusterPermissions.map((s) => `#      ${s}`),
    '',
    `# 3. On ${plan.local}: the multicluster service (add to the list if it already names other clusters).`,
    `  MESHBUS_MULTICLUSTER_LINKS=${plan.serviceEnv.MESHBUS_MULTICLUSTER_LINKS}`,
    '',
  ].join('\n');
}

/** What `unlink` removes, or tells to remove. */
export function formatUnlinkPlan(local: string | undefined, remote: string, stream: string, deleted: boolean): string {
  const here = local ?? 'this cluster';
  return [
    deleted ? `deleted stream ${stream}` : `would delete stream ${stream} (run again with --yes)`,
    `remove from ${here}'s nats-server configuration: the leafnodes remote with user link-${local ?? '<local>'} to ${remote}`,
    `remove ${remote} from MESHBUS_MULTICLUSTER_LINKS of ${here}'s multicluster service (and from the links of its multicluster NATS user)`,
    `remove from ${remote}'s nats-server configuration: the user link-${local ?? '<local>'}`,
    '',
  ].join('\n');
}

/** One linked cluster as `check` sees it. */
export interface LinkCheckRow {
  readonly cluster: string;
  /** From the last linkChanged event; `unknown` without one. */
  readonly health: string;
  /** Since the last gateway heartbeat stored in the link stream, if any. */
  readonly heartbeatAgeMs?: number;
  readonly mirrored: number;
  readonly ready: number;
  /** The link stream's source: messages behind, and since its last activity. */
  readonly sourceLag?: number;
  readonly sourceActiveMs?: number;
  readonly sourceError?: string;
  readonly reason?: string;
}

function age(ms: number | undefined): string {
  if (ms === undefined || ms < 0) return '-';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 3_600_000)}h`;
}

/** A link counts as healthy only while it is live. */
export function linkIsLive(row: LinkCheckRow): boolean {
  return row.health === 'live';
}

export function formatLinkCheck(rows: readonly LinkCheckRow[]): string {
  if (rows.length === 0) return 'no linked clusters (no MESHBUS_LINK_* stream on this bus)\n';
  return formatTable(
    ['CLUSTER', 'HEALTH', 'HEARTBEAT', 'MIRRORED', 'READY', 'SOURCE'],
    rows.map((r) => [
      r.cluster,
      r.health,
      age(r.heartbeatAgeMs),
      String(r.mirrored),
      String(r.ready),
      r.sourceError ?? (r.sourceLag === undefined ? '-' : `lag ${r.sourceLag}, active ${age(r.sourceActiveMs)} ago`),
    ]),
  );
}

/** A gateway heartbeat, as `gateways` lists it. */
export interface GatewayRow {
  readonly cluster: string;
  /** `local` for this cluster's own (MESHBUS_EXPORTS), else the link stream it came in. */
  readonly seenIn: string;
  readonly addresses: readonly { readonly address: string; readonly port: number }[];
  readonly identity: string;
  readonly ageMs: number;
}

function hostPort(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function formatGateways(rows: readonly GatewayRow[]): string {
  if (rows.length === 0) return 'no gateway heartbeats (no cluster exports, or no link delivers)\n';
  return formatTable(
    ['CLUSTER', 'SEEN IN', 'ADDRESSES', 'IDENTITY', 'AGE'],
    rows.map((r) => [r.cluster, r.seenIn, r.addresses.map(hostPort).join(','), r.identity, age(r.ageMs)]),
  );
}

/** `MESHBUS_LINK_NORTH_1` → `north-1`, or undefined for another stream. */
export function clusterOfLinkStream(stream: string): string | undefined {
  const m = /^MESHBUS_LINK_([A-Z0-9_]+)$/.exec(stream);
  return m ? m[1]!.toLowerCase().replace(/_/g, '-') : undefined;
}
