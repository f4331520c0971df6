import { parse as parseYaml } from 'yaml';
import { defaultControlNamespace, leafnodeTlsHosts, linkCaKey, linkPasswordSecretName, trustAnchorsConfigMapName, trustAnchorsKey, valuesConfigMapName, valuesKey } from '@meshbus/install';
import { objectPath, type ClusterReader, type KubeObject } from './cluster.js';
import type { Check } from './model.js';
import type { NatsGreeting } from './nats-greeting.js';

/** What every check of a run shares. */
export interface CheckContext {
  readonly cluster: ClusterReader;
  /** The control namespace. */
  readonly namespace: string;
  readonly now: () => Date;
  /** Reads the INFO greeting of an external NATS (values `nats.url`). */
  readonly natsGreeting: (url: string, signal: AbortSignal) => Promise<NatsGreeting>;
}

export type ClusterCheck = Check<CheckContext>;

/** Category names, as printed. */
export const Category = {
  api: 'kubernetes-api',
  pre: 'pre-kubernetes-setup',
  controlPlane: 'meshbus-control-plane',
  nats: 'meshbus-nats',
  webhook: 'meshbus-webhook',
  identity: 'meshbus-identity',
  multicluster: 'meshbus-multicluster',
  dataPlane: 'meshbus-data-plane',
} as const;

/** The values an installation was rendered from, as far as the checks need them. */
export interface InstallValues {
  readonly version: string;
  /** The proxy version the injector gives the pods it meshes: `injector.proxyVersion`, else {@link version}. */
  readonly proxyVersion: string;
  /** An external NATS; absent when the installation runs its own. */
  readonly natsUrl?: string;
  readonly ha: boolean;
  /** Present when `multicluster.enabled`: what the multicluster checks look for. */
  readonly multicluster?: {
    readonly clusterName: string;
    readonly exports: boolean;
    readonly links: readonly string[];
    /** Present when this cluster's bundled NATS serves its leaf node listener with TLS: the hosts its certificate must name. */
    readonly leafnodeTls?: { readonly hosts: readonly string[] };
    /** The links the bundled NATS checks with a CA, and the Secret key holding it. */
    readonly tlsLinks: readonly { readonly cluster: string; readonly caSecret: { readonly name: string; readonly key: string } }[];
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the `values.yaml` of the values ConfigMap; throws naming the field that is wrong. */
export function parseInstallValues(text: string): InstallValues {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new Error(`${valuesKey} is not YAML: ${(error as Error).message}`);
  }
  if (!isRecord(doc)) throw new Error(`${valuesKey} is not a YAML mapping`);
  const version = doc.version;
  if (typeof version !== 'string' || version === '') throw new Error(`${valuesKey} has no version (a string)`);
  const nats = doc.nats;
  if (nats !== undefined && nats !== null && !isRecord(nats)) throw new Error(`${valuesKey}: nats must be a mapping`);
  const url = isRecord(nats) ? nats.url : undefined;
  if (url !== undefined && url !== null && url !== '' && typeof url !== 'string') throw new Error(`${valuesKey}: nats.url must be a string`);
  const injector = doc.injector;
  if (injector !== undefined && injector !== null && !isRecord(injector)) throw new Error(`${valuesKey}: injector must be a mapping`);
  const proxyVersion = isRecord(injector) ? injector.proxyVersion : undefined;
  if (proxyVersion !== undefined && proxyVersion !== null && (typeof proxyVersion !== 'string' || proxyVersion === '')) throw new Error(`${valuesKey}: injector.proxyVersion must be a non-empty string`);
  const mc = doc.multicluster;
  if (mc !== undefined && mc !== null && !isRecord(mc)) throw new Error(`${valuesKey}: multicluster must be a mapping`);
  let multicluster: InstallValues['multicluster'];
  if (isRecord(mc) && mc.enabled === true) {
    if (typeof mc.clusterName !== 'string' || mc.clusterName === '') throw new Error(`${valuesKey}: multicluster.clusterName must be a non-empty string`);
    const exportTo = Array.isArray(mc.exportTo) ? mc.exportTo : [];
    const linkEntries: unknown[] = Array.isArray(mc.links) ? mc.links : [];
    const links = linkEntries.map((l) => (isRecord(l) && typeof l.cluster === 'string' ? l.cluster : '?'));
    const bundled = !(typeof url === 'string' && url !== '');
    const exports = exportTo.length > 0;
    // As the installation resolves them: TLS unless enabled is false; the CA in the link's password Secret, key ca.crt, by default.
    const leafnode = isRecord(mc.leafnode) ? mc.leafnode : {};
    const listenTls = isRecord(leafnode.tls) ? leafnode.tls : {};
    const clusterDomain = typeof doc.clusterDomain === 'string' ? doc.clusterDomain : 'cluster.local';
    const namespace = typeof doc.namespace === 'string' ? doc.namespace : defaultControlNamespace;
    const hosts = Array.isArray(listenTls.hosts) ? listenTls.hosts.filter((h): h is string => typeof h === 'string') : [];
    const tlsLinks = bundled
      ? linkEntries.flatMap((l) => {
          if (!isRecord(l) || typeof l.cluster !== 'string') return [];
          const tls = isRecord(l.tls) ? l.tls : {};
          if (tls.enabled === false) return [];
          const password = isRecord(l.passwordSecret) ? l.passwordSecret : {};
          const ca = isRecord(tls.caSecret) ? tls.caSecret : {};
          const name = typeof ca.name === 'string' ? ca.name : typeof password.name === 'string' ? password.name : linkPasswordSecretName(l.cluster);
          return [{ cluster: l.cluster, caSecret: { name, key: typeof ca.key === 'string' ? ca.key : linkCaKey } }];
        })
      : [];
    multicluster = {
      clusterName: mc.clusterName,
      exports,
      links,
      ...(exports && bundled && listenTls.enabled !== false ? { leafnodeTls: { hosts: leafnodeTlsHosts(namespace, clusterDomain, hosts) } } : {}),
      tlsLinks,
    };
  }
  return {
    version,
    proxyVersion: typeof proxyVersion === 'string' ? proxyVersion : version,
    ...(multicluster ? { multicluster } : {}),
    ha: doc.ha === true,
    ...(typeof url === 'string' && url !== '' ? { natsUrl: url } : {}),
  };
}

/** The installation's values from the values ConfigMap; throws with a hint when absent or malformed. */
export async function readInstallValues(context: CheckContext, signal: AbortSignal): Promise<InstallValues> {
  const path = objectPath('v1', 'configmaps', { namespace: context.namespace, name: valuesConfigMapName });
  const map = await context.cluster.get<KubeObject & { data?: Record<string, string> }>(path, signal);
  if (!map) throw new Error(`configmap ${valuesConfigMapName} not found in namespace ${context.namespace}; was meshbus installed with meshbus install?`);
  const text = map.data?.[valuesKey];
  if (text === undefined) throw new Error(`configmap ${valuesConfigMapName} has no key ${valuesKey}`);
  try {
    return parseInstallValues(text);
  } catch (error) {
    throw new Error(`configmap ${valuesConfigMapName}: ${(error as Error).message}`);
  }
}

/** The trust anchors PEM of the installation; throws with a hint when absent. */
export async function readTrustAnchorsPem(context: CheckContext, signal: AbortSignal): Promise<string> {
  const path = objectPath('v1', 'configmaps', { namespace: context.namespace, name: trustAnchorsConfigMapName });
  const map = await context.cluster.get<KubeObject & { data?: Record<string, string> }>(path, signal);
  if (!map) throw new Error(`configmap ${trustAnchorsConfigMapName} not found in namespace ${context.namespace}`);
  const pem = map.data?.[trustAnchorsKey];
  if (pem === undefined || pem.trim() === '') throw new Error(`configmap ${trustAnchorsConfigMapName} has no key ${trustAnchorsKey}`);
  return pem;
}

/** A Secret's data key, decoded from base64; undefined when absent. */
export function secretText(secret: { data?: Record<string, string> } | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}
