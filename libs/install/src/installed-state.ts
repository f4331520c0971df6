/*
 * Reads a running installation back through the Kubernetes API: the values
 * it was rendered from and the Secrets whose keys an upgrade must keep.
 */
import type { CoreV1Api, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { MeshbusError } from '@meshbus/core';
import { natsRoles, type NatsRole } from '@meshbus/local-nats';
import {
  gatewayTlsSecretName,
  injectorTlsSecretName,
  issuerSecretName,
  linkCaDir,
  natsConfigMapName,
  natsLeafnodeTlsDir,
  natsLeafnodeTlsSecretName,
  natsUsersSecretName,
  trustAnchorsConfigMapName,
  trustAnchorsKey,
  valuesConfigMapName,
  valuesKey,
} from './layout.js';
import { linkUrlEnv } from './render-nats.js';
import type { LeafnodeTlsMaterial, NatsLogin, ServingMaterial } from './material.js';
import type { ExistingMaterial } from './plan.js';
import { parse as parseYaml } from 'yaml';
import { InstallValuesError, validateValues, type InstallValues } from './values.js';

/** What a running installation holds. */
export interface InstalledState {
  readonly values: InstallValues;
  /** The meshbus version it was rendered with. */
  readonly version?: string;
  readonly material: ExistingMaterial;
  /** What the stored values left to defaults that would turn leaf node TLS on, and so are kept in clear as they run (see {@link keepLeafnodesInClear}). */
  readonly inClear?: LeafnodesInClear;
}

/** The leaf node listener and links an upgrade keeps in clear. */
export interface LeafnodesInClear {
  /** This cluster's leaf node listener (`multicluster.leafnode.tls.enabled: false` was added). */
  readonly listener: boolean;
  /** The clusters whose link got `tls.enabled: false`. */
  readonly links: readonly string[];
}

/** What runs in the cluster, as far as leaf node TLS goes. */
export interface RunningLeafnodes {
  /** Whether Secret meshbus-nats-leafnode-tls is there. */
  readonly leafnodeTlsSecret: boolean;
  /** nats.conf of ConfigMap meshbus-nats-config, when there is one. */
  readonly natsConfig?: string;
}

/** There is no installation to read, or the API refused; the message says which object. */
export class InstalledStateError extends MeshbusError {
  override readonly name = 'InstalledStateError';
  constructor(message: string) {
    super('InstallationUnreadable', message);
  }
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

async function optional<T>(read: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw new InstalledStateError(`cannot read ${what}: ${statusCode(error) !== undefined ? `HTTP ${statusCode(error)}` : (error as Error).message}`);
  }
}

function decoded(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

function serving(secret: V1Secret | undefined): ServingMaterial | undefined {
  const caPem = decoded(secret?.data, 'ca.crt');
  const certificatePem = decoded(secret?.data, 'tls.crt');
  const privateKeyPem = decoded(secret?.data, 'tls.key');
  return caPem && certificatePem && privateKeyPem ? { caPem, certificatePem, privateKeyPem } : undefined;
}

function leafnodeServing(secret: V1Secret | undefined): LeafnodeTlsMaterial | undefined {
  const m = serving(secret);
  const caKeyPem = decoded(secret?.data, 'ca.key');
  return m && caKeyPem ? { ...m, caKeyPem } : undefined;
}

/** The material held by the Secrets and ConfigMaps of an installation (pure, for tests too). */
export function materialFromObjects(objects: {
  issuer?: V1Secret;
  anchors?: V1ConfigMap;
  injectorTls?: V1Secret;
  gatewayTls?: V1Secret;
  leafnodeTls?: V1Secret;
  natsUsers?: V1Secret;
}): ExistingMaterial {
  const trustAnchorsPem = objects.anchors?.data?.[trustAnchorsKey] ?? decoded(objects.issuer?.data, trustAnchorsKey);
  const issuerCertificate = decoded(objects.issuer?.data, 'tls.crt');
  const issuerKey = decoded(objects.issuer?.data, 'tls.key');
  const natsUsers: Partial<Record<NatsRole, NatsLogin>> = {};
  for (const role of natsRoles) {
    const password = decoded(objects.natsUsers?.data, role);
    if (password) natsUsers[role] = { user: decoded(objects.natsUsers?.data, `${role}.user`) ?? role, password };
  }
  const injectorTls = serving(objects.injectorTls);
  const gatewayTls = serving(objects.gatewayTls);
  const leafnodeTls = leafnodeServing(objects.leafnodeTls);
  const linkPasswords: Record<string, string> = {};
  for (const key of Object.keys(objects.natsUsers?.data ?? {})) {
    const cluster = /^link-([a-z][a-z0-9-]*)$/.exec(key)?.[1];
    const password = decoded(objects.natsUsers?.data, key);
    if (cluster !== undefined && password) linkPasswords[cluster] = password;
  }
  return {
    ...(trustAnchorsPem
      ? { identity: { trustAnchorsPem, ...(issuerCertificate && issuerKey ? { issuer: { certificatePem: issuerCertificate, privateKeyPem: issuerKey } } : {}) } }
      : {}),
    ...(injectorTls ? { injectorTls } : {}),
    ...(gatewayTls ? { gatewayTls } : {}),
    ...(leafnodeTls ? { leafnodeTls } : {}),
    natsUsers,
    ...(Object.keys(linkPasswords).length > 0 ? { linkPasswords } : {}),
  };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Values stored by an installation made before leaf node TLS have no `tls`
 * keys, so the defaults would turn TLS on at the upgrade and break the running
 * links (the other side lacks the CA). This keeps, in the given (stored)
 * values, the bundled NATS's leaf node listener in clear when the stored values
 * say nothing of its TLS and Secret meshbus-nats-leafnode-tls is not there, and
 * each link in clear when its entry has no `tls` and the running nats.conf
 * connects to it without a CA. An explicit key is left as it is; values given
 * at the upgrade (-f, --set) go over the result.
 */
export function keepLeafnodesInClear(given: Record<string, unknown>, running: RunningLeafnodes): { values: Record<string, unknown>; inClear?: LeafnodesInClear } {
  const mc = given.multicluster;
  if (!isMapping(mc) || mc.enabled !== true) return { values: given };
  const nats = given.nats;
  if (isMapping(nats) && typeof nats.url === 'string' && nats.url !== '') return { values: given };
  const leafnode = isMapping(mc.leafnode) ? mc.leafnode : undefined;
  const listens = Array.isArray(mc.exportTo) && mc.exportTo.length > 0;
  const config = running.natsConfig;
  const listenerInClear =
    listens && leafnode?.tls === undefined && !running.leafnodeTlsSecret && (config === undefined || !config.includes(`${natsLeafnodeTlsDir}/tls.crt`));
  const links: string[] = [];
  const newLinks = Array.isArray(mc.links)
    ? mc.links.map((link: unknown) => {
        if (!isMapping(link) || typeof link.cluster !== 'string' || link.tls !== undefined || config === undefined) return link;
        const connects = config.includes(`$${linkUrlEnv(link.cluster)}`);
        if (!connects || config.includes(`${linkCaDir(link.cluster)}/ca.crt`)) return link;
        links.push(link.cluster);
        return { ...link, tls: { enabled: false } };
      })
    : mc.links;
  if (!listenerInClear && links.length === 0) return { values: given };
  return {
    values: {
      ...given,
      multicluster: {
        ...mc,
        ...(listenerInClear ? { leafnode: { ...leafnode, tls: { enabled: false } } } : {}),
        ...(links.length > 0 ? { links: newLinks } : {}),
      },
    },
    inClear: { listener: listenerInClear, links },
  };
}

/** The `values.yaml` of the values ConfigMap: the given values, and the `version` they were rendered with. */
export function storedValues(text: string, source: string, running?: RunningLeafnodes): { values: InstallValues; version?: string; inClear?: LeafnodesInClear } {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new InstalledStateError(`the stored values cannot be read: ${source} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (document === null || document === undefined) return { values: {} };
  if (typeof document !== 'object' || Array.isArray(document)) throw new InstalledStateError(`the stored values cannot be read: ${source} does not hold a mapping`);
  const { version, ...given } = document as Record<string, unknown>;
  // Before the values are checked: a link of an old installation may be nats://, which a TLS link refuses.
  const { values, inClear } = running ? keepLeafnodesInClear(given, running) : { values: given, inClear: undefined };
  try {
    return { values: validateValues(values, source), ...(typeof version === 'string' && version !== '' ? { version } : {}), ...(inClear ? { inClear } : {}) };
  } catch (err) {
    if (err instanceof InstallValuesError) throw new InstalledStateError(`the stored values cannot be read: ${err.message}`);
    throw err;
  }
}

/** Reads the installation in `namespace`; fails when its values ConfigMap is not there. */
export async function readInstalledState(core: CoreV1Api, namespace: string): Promise<InstalledState> {
  const values = await optional(() => core.readNamespacedConfigMap({ name: valuesConfigMapName, namespace }), `ConfigMap ${namespace}/${valuesConfigMapName}`);
  if (!values) throw new InstalledStateError(`no meshbus installation in namespace ${namespace}: ConfigMap ${valuesConfigMapName} is not there (install with \`meshbus install | kubectl apply -f -\`, or give --namespace)`);
  const secret = (name: string) => optional(() => core.readNamespacedSecret({ name, namespace }), `Secret ${namespace}/${name}`);
  const [issuer, anchors, injectorTls, gatewayTls, natsUsers, leafnodeTls, natsConfig] = await Promise.all([
    secret(issuerSecretName),
    optional(() => core.readNamespacedConfigMap({ name: trustAnchorsConfigMapName, namespace }), `ConfigMap ${namespace}/${trustAnchorsConfigMapName}`),
    secret(injectorTlsSecretName),
    secret(gatewayTlsSecretName),
    secret(natsUsersSecretName),
    secret(natsLeafnodeTlsSecretName),
    optional(() => core.readNamespacedConfigMap({ name: natsConfigMapName, namespace }), `ConfigMap ${namespace}/${natsConfigMapName}`),
  ]);
  const natsConf = natsConfig?.data?.['nats.conf'];
  const {
    values: stored,
    version,
    inClear,
  } = storedValues(values.data?.[valuesKey] ?? '', `ConfigMap ${namespace}/${valuesConfigMapName}`, {
    leafnodeTlsSecret: leafnodeTls !== undefined,
    ...(natsConf !== undefined ? { natsConfig: natsConf } : {}),
  });
  return {
    values: stored,
    ...(version ? { version } : {}),
    ...(inClear ? { inClear } : {}),
    material: materialFromObjects({
      ...(issuer ? { issuer } : {}),
      ...(anchors ? { anchors } : {}),
      ...(injectorTls ? { injectorTls } : {}),
      ...(gatewayTls ? { gatewayTls } : {}),
      ...(natsUsers ? { natsUsers } : {}),
      ...(leafnodeTls ? { leafnodeTls } : {}),
    }),
  };
}
