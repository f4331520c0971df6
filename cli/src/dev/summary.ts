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
}

/** The block printed once every process is ready. */
export function formatDevSummary(s: DevSummary): string {
  const rows: string[][] = [];
  const nats = s.natsMonitorUrl ? `${s.natsUrl}  (monitor ${s.natsMonitorUrl}, store ${s.natsStoreDir})` : `${s.natsUrl}  (external)`;
  rows.push(['NATS', nats]);
  if (s.natsUsersPath) rows.push(['NATS users', `${s.natsUsersPath}  (one per role; events and register log in from the state file)`]);
  s.gateways.forEach((g, i) => rows.push([i === 0 ? 'gateway gRPC' : '', g]));
  Object.entries(s.admin).forEach(([name, url], i) => rows.push([i === 0 ? 'admin' : '', `${name.padEnd(14)} ${url}  (/ready /live /metrics)`]));
  rows.push(['manifests', `${s.manifestsDir}${s.manifestsCopied ? '  (copied from examples/manifests)' : ''}`]);
  if (s.identityDir) rows.push(['identity', `${s.identityDir}${s.identityCreated ? '  (trust anchor, issuer and token key created)' : ''}`]);
  rows.push(['state file', s.statePath]);
  const table = formatTable(['', ''], rows).split('\n').slice(1).map((l) => (l ? `  ${l}` : l)).join('\n');
  return [
    '',
    'meshbus dev is ready.',
    table.trimEnd(),
    '',
    `Edit the manifests in ${s.manifestsDir}; the destination and policy services pick up changes.`,
    'Next, in another terminal:',
    '  npm run meshbus -- endpoints web.shop:80 --watch',
    '  npm run meshbus -- events',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
