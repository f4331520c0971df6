/*
 * How the buses of two meshes are joined. Each mesh's NATS has a JetStream
 * domain named after its cluster. The exporting cluster (east) accepts leaf
 * node connections and gives each linked cluster (west) a login that can do
 * one thing: keep a consumer on east's MESHBUS_EXPORTS stream, delivered under
 * `meshbus.link.<west>.`. West's server connects out as a leaf node with that
 * login, and west keeps a stream MESHBUS_LINK_<EAST> that sources east's
 * exports through the domain's API prefix. Nothing else crosses: the login
 * may not publish or receive any other subject, so neither mesh's state, events,
 * requests or inboxes reach the other, and a link that breaks only stops the
 * sourced stream from moving.
 */
import { NatsAuthorizationError } from './errors.js';
import { checkClusterName, exportsStream, linkStreamName } from './link-names.js';
import type { NatsExtraUser, NatsPermissions } from './permissions.js';

export { checkClusterName, exportsStream, exportsSubjects, linkStreamName } from './link-names.js';

/** Where east delivers what `local` sources from `remote`'s exports. */
export function linkDeliverSubject(local: string, remote: string): string {
  return `meshbus.link.${checkClusterName(local)}.${checkClusterName(remote)}`;
}

/** The JetStream API prefix of a cluster's domain, as seen from a linked cluster. */
export function domainApiPrefix(domain: string): string {
  return `$JS.${checkClusterName(domain)}.API`;
}

/**
 * What the login of `linked` on `exporting`'s NATS may do: create its source
 * consumer on the exports stream, acknowledge and answer flow control, and
 * receive its deliveries and the JetStream API's replies. The consumer is
 * created through the domain prefix, which the server maps to its own API; the
 * permissions are checked on the subjects as the leaf node sends them. No
 * CONSUMER.DELETE or CONSUMER.INFO: sourcing does not use them (nats-server 2.9
 * and 2.10 only create the consumer; 2.14 and later also try, once, to delete it
 * when the source is removed, and the consumer then ends by inactivity), and
 * with them anything in the linked cluster could delete or read the consumers
 * of every other linked cluster, whose names the permissions cannot tell apart.
 */
export function linkPermissions(exporting: string, linked: string): NatsPermissions {
  const api = domainApiPrefix(exporting);
  return {
    publish: [
      `${api}.STREAM.INFO.${exportsStream}`,
      `${api}.CONSUMER.CREATE.${exportsStream}`,
      `${api}.CONSUMER.CREATE.${exportsStream}.>`,
      `$JS.ACK.${exportsStream}.>`,
      '$JS.FC.>',
    ],
    subscribe: [`${linkDeliverSubject(linked, exporting)}.>`, '$JSC.R.>', '$JS.FC.>'],
  };
}

/** The login `exporting` gives `linked`, as an extra user of its authorization block. */
export function linkUser(exporting: string, linked: string, password: string): NatsExtraUser {
  return {
    user: `link-${checkClusterName(linked)}`,
    password,
    permissions: linkPermissions(exporting, linked),
    comment: `linked cluster ${linked}: sources ${exportsStream} of ${exporting} and nothing else`,
  };
}

/** A file path as a quoted nats-server configuration string: absolute, one line. */
function configPath(what: string, path: string): string {
  if (typeof path !== 'string' || path === '' || /[\x00-\x1f"\\]/.test(path) || !path.startsWith('/')) {
    throw new NatsAuthorizationError(`leaf node TLS ${what} ${JSON.stringify(path)}: use an absolute path without quotes, backslashes or control characters`);
  }
  return JSON.stringify(path);
}

/**
 * TLS of east's leaf node listener: the certificate and key it serves and,
 * with `verify`, the CA that remotes' client certificates must chain to.
 */
export interface LeafnodeListenTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA of the remotes' client certificates; required with `verify`. */
  readonly caFile?: string;
  /** Require each remote to present a certificate signed by `caFile`. @default false */
  readonly verify?: boolean;
}

/**
 * TLS of west's connection to a leaf node listener: the CA that verifies the
 * listener's certificate (for the URL's host name) and, when the listener
 * verifies client certificates, this server's certificate and key.
 */
export interface LeafnodeRemoteTls {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

function tlsBlock(indent: string, entries: [string, string][]): string[] {
  return [`${indent}tls {`, ...entries.map(([k, v]) => `${indent}  ${k}: ${v}`), `${indent}}`];
}

function listenTlsLines(tls: LeafnodeListenTls): string[] {
  if (tls.verify && tls.caFile === undefined) throw new NatsAuthorizationError('leaf node TLS: verify needs a CA file (caFile) to check the remotes\' certificates against');
  const entries: [string, string][] = [
    ['cert_file', configPath('certificate file', tls.certFile)],
    ['key_file', configPath('key file', tls.keyFile)],
  ];
  if (tls.caFile !== undefined) entries.push(['ca_file', configPath('CA file', tls.caFile)]);
  if (tls.verify) entries.push(['verify', 'true']);
  return tlsBlock('  ', entries);
}

/** East's leaf node listener, with TLS when `tls` is given. */
export function leafnodeListenConfig(host: string, port: number, tls?: LeafnodeListenTls): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NatsAuthorizationError(`leaf node port ${port}: use 1 to 65535`);
  const lines = ['leafnodes {', `  listen: ${JSON.stringify(`${host}:${port}`)}`, ...(tls ? listenTlsLines(tls) : []), '}'];
  return `${lines.join('\n')}\n`;
}

export interface LeafnodeRemote {
  /**
   * `nats-leaf://host:port`, `nats://host:port` or `tls://host:port` of the
   * exporting cluster's leaf node listener. With `tls` the scheme must be
   * `tls://` or `nats-leaf://`: nats-server then always does the TLS handshake,
   * and checks the listener's certificate against the URL's host.
   */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly tls?: LeafnodeRemoteTls;
}

function remoteTlsLines(url: string, tls: LeafnodeRemoteTls): string[] {
  if (!url.startsWith('tls://') && !url.startsWith('nats-leaf://')) {
    throw new NatsAuthorizationError(`leaf node URL ${JSON.stringify(url)}: with TLS use tls://<host>:<port> or nats-leaf://<host>:<port>`);
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) throw new NatsAuthorizationError('leaf node TLS: give both a client certificate file and its key file, or neither');
  const entries: [string, string][] = [['ca_file', configPath('CA file', tls.caFile)]];
  if (tls.certFile !== undefined) entries.push(['cert_file', configPath('certificate file', tls.certFile)], ['key_file', configPath('key file', tls.keyFile!)]);
  return tlsBlock('      ', entries);
}

/** West's leaf node connections to the clusters it is linked to. */
export function leafnodeRemotesConfig(remotes: readonly LeafnodeRemote[]): string {
  const entries = remotes.map((r) => {
    let url: URL;
    try {
      url = new URL(r.url);
    } catch {
      throw new NatsAuthorizationError(`leaf node URL ${JSON.stringify(r.url)} is not a URL`);
    }
    if (!['nats:', 'nats-leaf:', 'tls:'].includes(url.protocol) || url.hostname === '' || url.username !== '') {
      throw new NatsAuthorizationError(`leaf node URL ${JSON.stringify(r.url)}: use nats-leaf://<host>:<port> (or nats:// or tls://), without a login in it`);
    }
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(r.user) || !/^[A-Za-z0-9_.-]{1,128}$/.test(r.password)) {
      throw new NatsAuthorizationError(`leaf node login ${JSON.stringify(r.user)}: use letters, digits, '.', '_' and '-' only`);
    }
    const tls = r.tls ? remoteTlsLines(r.url, r.tls) : undefined;
    url.username = r.user;
    url.password = r.password;
    const quoted = JSON.stringify(url.toString().replace(/\/$/, ''));
    if (!tls) return `    { url: ${quoted} }`;
    return ['    {', `      url: ${quoted}`, ...tls, '    }'].join('\n');
  });
  return `leafnodes {\n  remotes = [\n${entries.join(',\n')}\n  ]\n}\n`;
}

/** The stream west keeps of `remote`'s exports: last value per subject, sourced over the link. */
export function linkStreamConfig(local: string, remote: string): {
  name: string;
  max_msgs_per_subject: number;
  sources: { name: string; external: { api: string; deliver: string } }[];
} {
  return {
    name: linkStreamName(remote),
    max_msgs_per_subject: 1,
    sources: [{ name: exportsStream, external: { api: domainApiPrefix(remote), deliver: linkDeliverSubject(local, remote) } }],
  };
}
