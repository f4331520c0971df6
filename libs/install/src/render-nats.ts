/*
 * The bundled NATS cluster: three nats-server pods in a StatefulSet, routed
 * to each other through the headless Service, JetStream on a volume per pod,
 * and one login per meshbus role with that role's permissions (the block
 * `meshbus nats-auth` prints).
 */
import { createHash } from 'node:crypto';
import { linkUser, natsAuthorizationConfig, natsRoles, type NatsRole } from '@meshbus/local-nats';
import {
  componentName,
  linkCaDir,
  linkUserName,
  natsAuthKey,
  natsClientServiceName,
  natsConfigMapName,
  natsLeafnodeServiceName,
  natsLeafnodeTlsDir,
  natsLeafnodeTlsSecretName,
  natsPorts,
  natsReplicas,
  natsUsersSecretName,
} from './layout.js';
import type { LeafnodeTlsMaterial, NatsLogin } from './material.js';
import type { KubeObject } from './objects.js';
import { antiAffinity, b64, exposedService, resourcesOf } from './render-common.js';
import type { ResolvedMulticluster, ResolvedValues } from './values.js';

/** The uid nats-server runs as. */
export const natsUid = 2104;

export function natsClientUrl(v: Pick<ResolvedValues, 'namespace' | 'clusterDomain'>): string {
  return `nats://${natsClientServiceName}.${v.namespace}.svc.${v.clusterDomain}:${natsPorts.client}`;
}

/** The pods' route URLs, through the headless Service. */
export function natsRouteUrls(v: Pick<ResolvedValues, 'namespace' | 'clusterDomain'>): string[] {
  const name = componentName('nats');
  return Array.from({ length: natsReplicas }, (_, i) => `nats://${name}-${i}.${name}.${v.namespace}.svc.${v.clusterDomain}:${natsPorts.cluster}`);
}

/** The environment variable of a NATS pod holding the leaf node URL (with the link login) to `cluster`; nats.conf names it. */
export function linkUrlEnv(cluster: string): string {
  return `MESHBUS_LINK_${cluster.toUpperCase().replace(/-/g, '_')}_URL`;
}

/** The environment variable of a NATS pod holding the password of the link login to `cluster`, from the Secret values name. */
export function linkPasswordEnv(cluster: string): string {
  return `MESHBUS_LINK_${cluster.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
}

/**
 * The leaf node URL of a link, with the login `link-<local>` and the password
 * as the Kubernetes reference `$(<password variable>)`, which the kubelet
 * fills in from the variable before it (the password never reaches the ConfigMap).
 */
export function linkUrlValue(url: string, local: string, remote: string): string {
  const m = /^([a-z-]+):\/\/(.+)$/.exec(url);
  if (!m) throw new Error(`leaf node URL ${JSON.stringify(url)} is not scheme://host:port`);
  return `${m[1]}://${linkUserName(local)}:$(${linkPasswordEnv(remote)})@${m[2]}`;
}

/** The JetStream domain, and the leaf node listener and remotes, of a cluster in a multicluster mesh. */
function multiclusterConfig(mc: ResolvedMulticluster | undefined, bundled: boolean): { jetstream: string[]; leafnodes: string[] } {
  if (!mc) return { jetstream: [], leafnodes: [] };
  const leafnodes: string[] = [];
  if (mc.exportTo.length > 0 || mc.links.length > 0) {
    leafnodes.push(`# multicluster: ${mc.exportTo.length > 0 ? `${mc.exportTo.join(', ')} connect here with their link logins` : 'no cluster connects here'}; ${mc.links.length > 0 ? `this cluster connects to ${mc.links.map((l) => l.cluster).join(', ')}` : 'this cluster connects to none'}`);
    leafnodes.push(`leafnodes {`);
    if (mc.exportTo.length > 0) {
      leafnodes.push(`  listen: "0.0.0.0:${mc.leafnode.port}"`, `  no_advertise: true`);
      if (mc.leafnode.tls) {
        // The certificate the installation made (Secret meshbus-nats-leafnode-tls); linked clusters check it with its ca.crt.
        leafnodes.push(`  tls {`, `    cert_file: "${natsLeafnodeTlsDir}/tls.crt"`, `    key_file: "${natsLeafnodeTlsDir}/tls.key"`, `  }`);
      } else {
        leafnodes.push(`  # no TLS (multicluster.leafnode.tls.enabled: false): link passwords and exports cross in clear`);
      }
    }
    if (mc.links.length > 0 && bundled) {
      const remote = (l: ResolvedMulticluster['links'][number], last: boolean): string[] => {
        const comma = last ? '' : ',';
        if (!l.tls) return [`    { url: $${linkUrlEnv(l.cluster)} }${comma}`];
        // A tls block makes nats-server do the handshake and check the listener's certificate with this CA, whatever the URL's scheme.
        return [`    {`, `      url: $${linkUrlEnv(l.cluster)}`, `      tls {`, `        ca_file: "${linkCaDir(l.cluster)}/ca.crt"`, `      }`, `    }${comma}`];
      };
      leafnodes.push(`  remotes = [`, ...mc.links.flatMap((l, i) => remote(l, i === mc.links.length - 1)), `  ]`);
    }
    leafnodes.push(`}`);
  }
  return { jetstream: [`  domain: ${mc.clusterName}`], leafnodes };
}

/** nats.conf of the bundled cluster; the logins are included from the users Secret. */
export function natsServerConfig(v: Pick<ResolvedValues, 'namespace' | 'clusterDomain' | 'multicluster'>): string {
  const mc = multiclusterConfig(v.multicluster, true);
  return [
    `# meshbus NATS cluster: ${natsReplicas} servers, JetStream on each pod's volume`,
    `server_name: $POD_NAME`,
    `port: ${natsPorts.client}`,
    `http_port: ${natsPorts.monitor}`,
    `max_payload: 8MB`,
    `pid_file: /var/run/nats/nats.pid`,
    `lame_duck_duration: 30s`,
    `lame_duck_grace_period: 10s`,
    `jetstream {`,
    `  store_dir: /data/jetstream`,
    ...mc.jetstream,
    `}`,
    `cluster {`,
    `  name: meshbus`,
    `  port: ${natsPorts.cluster}`,
    `  no_advertise: true`,
    `  connect_retries: 120`,
    `  routes: [`,
    ...natsRouteUrls(v).map((url) => `    ${url}`),
    `  ]`,
    `}`,
    ...mc.leafnodes,
    `include ./auth/${natsAuthKey}`,
    ``,
  ].join('\n');
}

/** The users Secret: a password (key `<role>`) and user name (`<role>.user`) per role, and the authorization block built from them. */
export function natsUsersSecret(
  namespace: string,
  users: Readonly<Record<NatsRole, NatsLogin>>,
  labels: Record<string, string>,
  multicluster?: { readonly values: ResolvedMulticluster; readonly linkPasswords: Readonly<Record<string, string>> },
): KubeObject {
  const mc = multicluster?.values;
  const links = mc?.links.map((l) => l.cluster) ?? [];
  const linkLogins = (mc?.exportTo ?? []).map((cluster) => {
    const password = multicluster?.linkPasswords[cluster];
    if (password === undefined) throw new Error(`the password of the link login ${linkUserName(cluster)} is missing from the material`);
    return linkUser(mc!.clusterName, cluster, password);
  });
  const authorization = natsAuthorizationConfig(
    natsRoles.map((role) => ({ ...users[role], role, ...(role === 'multicluster' && links.length > 0 ? { links } : {}) })),
    linkLogins,
  );
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: natsUsersSecretName, namespace, labels },
    type: 'Opaque',
    data: {
      ...Object.fromEntries(natsRoles.flatMap((role) => [[role, b64(users[role].password)], [`${role}.user`, b64(users[role].user)]])),
      // Read by the operator of each cluster in exportTo, who stores it in that cluster (docs/kubernetes.md#multicluster).
      ...Object.fromEntries(linkLogins.map((login) => [login.user, b64(login.password)])),
      [natsAuthKey]: b64(authorization),
    },
  };
}

export interface NatsRenderInput {
  readonly values: ResolvedValues;
  readonly users: Readonly<Record<NatsRole, NatsLogin>>;
  readonly linkPasswords?: Readonly<Record<string, string>>;
  /** Required when the leaf node listener is rendered with TLS. */
  readonly leafnodeTls?: LeafnodeTlsMaterial;
  readonly labels: Record<string, string>;
  readonly version: string;
}

/** The Secret of the leaf node listener's certificate; `ca.key` stays here, the NATS pods mount only the certificate and its key. */
export function leafnodeTlsSecret(namespace: string, labels: Record<string, string>, m: LeafnodeTlsMaterial): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: natsLeafnodeTlsSecretName, namespace, labels },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(m.certificatePem), 'tls.key': b64(m.privateKeyPem), 'ca.crt': b64(m.caPem), 'ca.key': b64(m.caKeyPem) },
  };
}

/** The users Secret of an installation, with the multicluster logins when enabled. */
export function installationUsersSecret(v: ResolvedValues, users: Readonly<Record<NatsRole, NatsLogin>>, labels: Record<string, string>, linkPasswords?: Readonly<Record<string, string>>): KubeObject {
  return natsUsersSecret(v.namespace, users, labels, v.multicluster ? { values: v.multicluster, linkPasswords: linkPasswords ?? {} } : undefined);
}

export function natsObjects({ values: v, users, labels, linkPasswords, leafnodeTls }: NatsRenderInput): KubeObject[] {
  const name = componentName('nats');
  const ns = v.namespace;
  const selector = { 'app.kubernetes.io/part-of': 'meshbus', 'app.kubernetes.io/component': 'nats' };
  const config = natsServerConfig(v);
  const usersSecret = installationUsersSecret(v, users, labels, linkPasswords);
  const mc = v.multicluster;
  const listensForLeafnodes = mc !== undefined && mc.exportTo.length > 0;
  const listenTls = listensForLeafnodes && mc.leafnode.tls !== undefined;
  if (listenTls && !leafnodeTls) throw new Error('the leaf node certificate is missing from the material');
  const tlsLinks = (mc?.links ?? []).filter((l) => l.tls !== undefined);
  const checksum = createHash('sha256')
    .update(config)
    .update(JSON.stringify(usersSecret.data))
    .update(listenTls ? leafnodeTls!.certificatePem : '')
    .digest('hex');
  const tlsVolumes = [
    ...(listenTls
      ? [{ name: 'leafnode-tls', secret: { secretName: natsLeafnodeTlsSecretName, defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } }]
      : []),
    ...tlsLinks.map((l) => ({ name: `link-${l.cluster}-ca`, secret: { secretName: l.tls!.caSecret.name, defaultMode: 0o440, items: [{ key: l.tls!.caSecret.key, path: 'ca.crt' }] } })),
  ];
  const tlsMounts = [
    ...(listenTls ? [{ name: 'leafnode-tls', mountPath: natsLeafnodeTlsDir, readOnly: true }] : []),
    ...tlsLinks.map((l) => ({ name: `link-${l.cluster}-ca`, mountPath: linkCaDir(l.cluster), readOnly: true })),
  ];
  const ports = [
    { name: 'client', port: natsPorts.client },
    { name: 'cluster', port: natsPorts.cluster },
    { name: 'monitor', port: natsPorts.monitor },
  ];
  const containerPorts = [...ports, ...(listensForLeafnodes ? [{ name: 'leafnodes', port: mc.leafnode.port }] : [])];
  // Each link's password from the Secret the operator created, then the URL that refers to it ($(...) is expanded by the kubelet).
  const linkEnv = (mc?.links ?? []).flatMap((l) => [
    { name: linkPasswordEnv(l.cluster), valueFrom: { secretKeyRef: { name: l.passwordSecret.name, key: l.passwordSecret.key } } },
    { name: linkUrlEnv(l.cluster), value: linkUrlValue(l.url!, mc!.clusterName, l.cluster) },
  ]);
  const probe = (path: string, extra: object) => ({ httpGet: { path, port: 'monitor' }, timeoutSeconds: 5, ...extra });
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: natsConfigMapName, namespace: ns, labels }, data: { 'nats.conf': config } },
    usersSecret,
    ...(listenTls ? [leafnodeTlsSecret(ns, labels, leafnodeTls!)] : []),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns, labels },
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector,
        ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: 'TCP' })),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: natsClientServiceName, namespace: ns, labels },
      spec: { type: 'ClusterIP', selector, ports: [{ name: 'client', port: natsPorts.client, targetPort: 'client', protocol: 'TCP' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace: ns, labels },
      spec: {
        serviceName: name,
        replicas: natsReplicas,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels, annotations: { 'meshbus.io/inject': 'disabled', 'meshbus.io/config-checksum': checksum } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 60,
            securityContext: { runAsNonRoot: true, runAsUser: natsUid, runAsGroup: natsUid, fsGroup: natsUid, seccompProfile: { type: 'RuntimeDefault' } },
            affinity: antiAffinity(selector, 'preferred'),
            containers: [
              {
                name: 'nats',
                image: v.nats.image,
                imagePullPolicy: 'IfNotPresent',
                args: ['--config', '/etc/nats/nats.conf'],
                env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, ...linkEnv],
                ports: containerPorts.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
                livenessProbe: probe('/healthz?js-enabled-only=true', { periodSeconds: 30, failureThreshold: 3 }),
                readinessProbe: probe('/healthz?js-server-only=true', { periodSeconds: 10, failureThreshold: 3 }),
                startupProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 90 }),
                lifecycle: { preStop: { exec: { command: ['nats-server', '--signal', 'ldm=/var/run/nats/nats.pid'] } } },
                resources: resourcesOf(v.nats.resources),
                securityContext: {
                  runAsNonRoot: true,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'config', mountPath: '/etc/nats/nats.conf', subPath: 'nats.conf', readOnly: true },
                  { name: 'auth', mountPath: '/etc/nats/auth', readOnly: true },
                  { name: 'data', mountPath: '/data' },
                  { name: 'run', mountPath: '/var/run/nats' },
                  ...tlsMounts,
                ],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: natsConfigMapName } },
              { name: 'auth', secret: { secretName: natsUsersSecretName, items: [{ key: natsAuthKey, path: natsAuthKey }] } },
              { name: 'run', emptyDir: {} },
              ...tlsVolumes,
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              ...(v.nats.storageClassName !== undefined ? { storageClassName: v.nats.storageClassName } : {}),
              resources: { requests: { storage: v.nats.storageSize } },
            },
          },
        ],
      },
    },
    {
      // The cluster port takes routes from the NATS pods only (where the network plugin enforces policies).
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: ns, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [
          {
            ports: [
              { port: natsPorts.client, protocol: 'TCP' },
              { port: natsPorts.monitor, protocol: 'TCP' },
              ...(listensForLeafnodes ? [{ port: mc.leafnode.port, protocol: 'TCP' }] : []),
            ],
          },
          { from: [{ podSelector: { matchLabels: selector } }], ports: [{ port: natsPorts.cluster, protocol: 'TCP' }] },
        ],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name, namespace: ns, labels },
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
    ...(listensForLeafnodes ? [exposedService(natsLeafnodeServiceName, ns, labels, selector, mc.leafnode, [{ name: 'leafnodes', port: mc.leafnode.port, targetPort: 'leafnodes', protocol: 'TCP' }])] : []),
  ];
}
