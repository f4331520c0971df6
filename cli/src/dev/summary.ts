import { formatTable } from '../table.js';

/** What {@link formatDevSummary} shows. */
export interface DevSummary {
  natsUrl: string;
  /** Set when `meshbus dev` started the server itself. */
  natsMonitorUrl?: string;
  natsStoreDir?: string;
  /** The users file, when the dev nats-server requires per-role users. */
  natsUsersPath?: string;
  gateways: string[];
  /** Admin URL by process name. */
  admin: Record<string, string>;
  manifestsDir: string;
  manifestsCopied: boolean;
  identityDir?: string;
  identityCreated: boolean;
  statePath: string;
  /** Set for one of the linked meshes of `meshbus dev --clusters 2`. */
  cluster?: {
    name: string;
    /** The tunnel listener of its multicluster gateway (`ip:port`). */
    multiclusterGateway?: string;
    /** Its leaf node listener (`ip:port`). */
    leafnodeListen?: string;
    /** The CA linked clusters check the leaf node listener's TLS certificate with. */
    leafnodeCaFile?: string;
    /** The CAs its leaf node connections to `links` check their TLS certificates with. */
    linkCaFiles?: readonly string[];
    links: readonly string[];
  };
}

function summaryTable(s: DevSummary): string {
  const rows: string[][] = [];
  const nats = s.natsMonitorUrl ? `${s.natsUrl}  (monitor ${s.natsMonitorUrl}, store ${s.natsStoreDir})` : `${s.natsUrl}  (external)`;
  rows.push(['NATS', nats]);
  if (s.natsUsersPath) rows.push(['NATS users', `${s.natsUsersPath}  (one per role; events and register log in from the state file)`]);
  s.gateways.forEach((g, i) => rows.push([i === 0 ? 'gateway gRPC' : '', g]));
  const width = Math.max(14, ...Object.keys(s.admin).map((n) => n.length + 1));
  Object.entries(s.admin).forEach(([name, url], i) => rows.push([i === 0 ? 'admin' : '', `${name.padEnd(width)} ${url}  (/ready /live /metrics)`]));
  rows.push(['manifests', `${s.manifestsDir}${s.manifestsCopied ? '  (copied from examples/manifests)' : ''}`]);
  if (s.identityDir) rows.push(['identity', `${s.identityDir}${s.identityCreated ? '  (trust anchor, issuer and token key created)' : ''}`]);
  rows.push(['state file', s.statePath]);
  if (s.cluster) {
    if (s.cluster.leafnodeListen) {
      rows.push(['leaf nodes', `${s.cluster.leafnodeListen}  (${s.cluster.leafnodeCaFile ? 'TLS; ' : 'no TLS; '}linked clusters connect here)`]);
      if (s.cluster.leafnodeCaFile) rows.push(['leaf node CA', `${s.cluster.leafnodeCaFile}  (linked clusters check the listener's certificate with it)`]);
    }
    if (s.cluster.multiclusterGateway) rows.push(['mc gateway', `${s.cluster.multiclusterGateway}  (tunnels of linked clusters' proxies)`]);
    if (s.cluster.links.length > 0) {
      const tls = s.cluster.linkCaFiles?.length ? `over TLS, certificate checked with ${s.cluster.linkCaFiles.join(', ')}` : 'in clear';
      rows.push(['links', `${s.cluster.links.join(', ')}  (mirrors their exported services; ${tls})`]);
    }
  }
  return formatTable(['', ''], rows).split('\n').slice(1).map((l) => (l ? `  ${l}` : l)).join('\n').trimEnd();
}

/** The block printed once every process is ready. */
export function formatDevSummary(s: DevSummary): string {
  return [
    '',
    'meshbus dev is ready.',
    summaryTable(s),
    '',
    `Edit the manifests in ${s.manifestsDir}; the destination and policy services pick up changes.`,
    'Next, in another terminal:',
    '  npm run meshbus -- endpoints web.shop:80 --watch',
    '  npm run meshbus -- events',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

/**
 * The block `meshbus dev --clusters 2` prints once both meshes are ready:
 * each cluster's table, then what to try. The CLI's commands, run from the
 * same folder, talk to `local` (its dev.json is the one they read).
 */
export function formatLinkedDevSummary(clusters: readonly DevSummary[], options: { local: string; remote: string; service: { namespace: string; name: string; port: number } }): string {
  const { local, remote, service } = options;
  const mirror = `${service.name}-${remote}.${service.namespace}:${service.port}`;
  return [
    '',
    `meshbus dev is ready: ${clusters.length} linked clusters, ${clusters.map((c) => c.cluster?.name ?? '?').join(' and ')}, one trust domain.`,
    ...clusters.flatMap((c) => ['', `cluster ${c.cluster?.name ?? '?'}`, summaryTable(c)]),
    '',
    `${remote} exports ${service.name}.${service.namespace}; ${local} mirrors it as ${service.name}-${remote}.${service.namespace}. The commands below talk to ${local}.`,
    'Next, in another terminal:',
    '  npm run meshbus -- multicluster check',
    '  npm run meshbus -- multicluster gateways',
    `  npm run meshbus -- endpoints ${mirror}`,
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
