import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  componentLabel,
  componentName,
  components,
  crdName,
  customResources,
  defaultControlNamespace,
  injectorTlsSecretName,
  issuerSecretName,
  natsPorts,
  partOf,
  partOfLabel,
  trustAnchorsConfigMapName,
  trustAnchorsKey,
  valuesConfigMapName,
  valuesKey,
  webhookConfigurationName,
  webhookName,
} from '@meshbus/install';
import { controlNamespaceLabel, names, proxyVersionAnnotation, reviewAdmission, trustRootAnnotation, type InjectionConfig } from '@meshbus/injector';
import type { FakeKubeApi, FakeKubeObject } from '@meshbus/testing';
import { createIssuer, createTrustAnchor, type TrustMaterial } from '@meshbus/trust';
import { LeafCertificateSigner, decodePem, encodePem, subjectPublicKeyInfoOf } from '@meshbus/x509';

/*
 * For tests of `meshbus check`: a healthy meshbus installation as Kubernetes
 * objects with real certificates, as a running cluster holds them, and the
 * service proxy routes of the fake API server to local backends.
 */

const DAY = 86_400_000;

/** A validity window around now: `fromDays` ago (negative: in the future) to `toDays` ahead (negative: in the past). */
export function validity(fromDaysAgo: number, toDaysAhead: number, now = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - fromDaysAgo * DAY), notAfter: new Date(now + toDaysAhead * DAY) };
}

export function anchor(commonName = 'root.meshbus.cluster.local', days = validity(1, 3650)): TrustMaterial {
  return createTrustAnchor({ commonName, validity: days });
}

export function issuer(by: TrustMaterial, days = validity(1, 365)): TrustMaterial {
  return createIssuer({ anchor: by, commonName: 'identity.meshbus.cluster.local', validity: days });
}

/** A serving (leaf) certificate for `dnsName`, signed by `ca`. */
export function servingCertificate(ca: TrustMaterial, dnsName: string, days = validity(1, 365)): TrustMaterial {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const signer = new LeafCertificateSigner({ certificateDer: decodePem(ca.certificatePem, 'CERTIFICATE'), privateKey: createPrivateKey(ca.privateKeyPem) });
  const der = signer.sign({ dnsName, commonName: dnsName, subjectPublicKeyInfo: subjectPublicKeyInfoOf(key), validity: days });
  return { certificatePem: encodePem('CERTIFICATE', der), privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The certificates of an installation. */
export interface InstallationCertificates {
  readonly anchors: TrustMaterial;
  readonly issuer: TrustMaterial;
  readonly webhookCa: TrustMaterial;
  readonly serving: TrustMaterial;
}

export function installationCertificates(namespace = defaultControlNamespace): InstallationCertificates {
  const anchors = anchor();
  const webhookCa = anchor('webhook.meshbus.cluster.local');
  return { anchors, issuer: issuer(anchors), webhookCa, serving: servingCertificate(webhookCa, `${componentName('injector')}.${namespace}.svc`) };
}

/** Options of {@link installationObjects}. */
export interface InstallationOptions {
  readonly namespace?: string;
  readonly version?: string;
  readonly replicas?: number;
  readonly natsUrl?: string;
  readonly webhookPath?: string;
  readonly certificates: InstallationCertificates;
}

export function trustRootHashOf(pem: string): string {
  return createHash('sha256').update(pem).digest('hex');
}

/** Every object of a healthy installation: what `meshbus install` renders, with the status a running cluster gives it. */
export function installationObjects(options: InstallationOptions): FakeKubeObject[] {
  const namespace = options.namespace ?? defaultControlNamespace;
  const version = options.version ?? '0.1.0';
  const replicas = options.replicas ?? 2;
  const certs = options.certificates;
  const labels = (component: string) => ({ [partOfLabel]: partOf, [componentLabel]: component });
  const objects: FakeKubeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [partOfLabel]: partOf } } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: valuesConfigMapName, namespace, labels: { [partOfLabel]: partOf } },
      data: { [valuesKey]: `version: ${version}\ncontrolNamespace: ${namespace}\nha: false\n${options.natsUrl ? `nats:\n  url: ${options.natsUrl}\n` : ''}` },
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: trustAnchorsConfigMapName, namespace, labels: { [partOfLabel]: partOf } }, data: { [trustAnchorsKey]: certs.anchors.certificatePem } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: issuerSecretName, namespace, labels: labels('identity') },
      data: { 'tls.crt': b64(certs.issuer.certificatePem), 'tls.key': b64(certs.issuer.privateKeyPem), 'ca.crt': b64(certs.anchors.certificatePem) },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: injectorTlsSecretName, namespace, labels: labels('injector') },
      data: { 'tls.crt': b64(certs.serving.certificatePem), 'tls.key': b64(certs.serving.privateKeyPem) },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: webhookConfigurationName, labels: labels('injector') },
      webhooks: [
        {
          name: webhookName,
          clientConfig: { service: { namespace, name: componentName('injector'), path: options.webhookPath ?? '/inject', port: 443 }, caBundle: b64(certs.webhookCa.certificatePem) },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${componentName('injector')}-abcde`, namespace, labels: { 'kubernetes.io/service-name': componentName('injector') } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.5'], conditions: { ready: true } }],
      ports: [{ name: 'webhook', port: 8443, protocol: 'TCP' }],
    },
  ];
  for (const r of customResources) objects.push(customResourceDefinition(r, { [partOfLabel]: partOf }));
  const ready = { replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas, observedGeneration: 1 };
  for (const component of components) {
    const name = componentName(component);
    objects.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels: labels(component), generation: 1 },
      spec: { replicas, selector: { matchLabels: labels(component) } },
      status: ready,
    });
    for (let i = 0; i < replicas; i++) objects.push(pod({ namespace, name: `${name}-${i}`, labels: labels(component), containers: [{ name: component, ready: true }] }));
  }
  if (!options.natsUrl) {
    objects.push({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: componentName('nats'), namespace, labels: labels('nats'), generation: 1 }, spec: { replicas: 3 }, status: { ...ready, replicas: 3, readyReplicas: 3, updatedReplicas: 3 } });
  }
  return objects;
}

/**
 * An apiextensions.k8s.io/v1 CustomResourceDefinition of `resource` as one is applied (no status:
 * the API server sets `NamesAccepted` and `Established`), with an open schema.
 */
export function customResourceDefinition(
  resource: { readonly group: string; readonly version: string; readonly kind: string; readonly plural: string },
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): FakeKubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(resource), labels, annotations },
    spec: {
      group: resource.group,
      scope: 'Namespaced',
      names: { kind: resource.kind, plural: resource.plural, singular: resource.kind.toLowerCase(), listKind: `${resource.kind}List` },
      versions: [{ name: resource.version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } }, subresources: { status: {} } }],
    },
  };
}

/** A running pod whose containers are ready or not. */
export function pod(options: { namespace: string; name: string; labels?: Record<string, string>; annotations?: Record<string, string>; containers: { name: string; ready: boolean; waiting?: string }[] }): FakeKubeObject {
  const allReady = options.containers.every((c) => c.ready);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name, namespace: options.namespace, labels: options.labels ?? {}, annotations: options.annotations ?? {} },
    spec: { containers: options.containers.map((c) => ({ name: c.name, image: c.name })) },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: allReady ? 'True' : 'False' }],
      containerStatuses: options.containers.map((c) => ({ name: c.name, ready: c.ready, state: c.waiting ? { waiting: { reason: c.waiting } } : { running: {} } })),
    },
  };
}

/** A pod meshed by the injector of the installation in `controlNamespace`. */
export function meshedPod(options: { namespace: string; name: string; controlNamespace?: string; version: string; anchorsPem: string; proxyReady?: boolean }): FakeKubeObject {
  return pod({
    namespace: options.namespace,
    name: options.name,
    labels: { app: 'web', [controlNamespaceLabel]: options.controlNamespace ?? defaultControlNamespace },
    annotations: { [proxyVersionAnnotation]: options.version, [trustRootAnnotation]: trustRootHashOf(options.anchorsPem) },
    containers: [
      { name: 'web', ready: true },
      { name: names.proxyContainer, ready: options.proxyReady ?? true, ...(options.proxyReady === false ? { waiting: 'CrashLoopBackOff' } : {}) },
    ],
  });
}

export function applyAll(fake: FakeKubeApi, objects: readonly FakeKubeObject[]): void {
  for (const object of objects) fake.apply(object);
}

/** A local HTTPS server answering AdmissionReviews with the injector's own logic, on the installation's serving certificate. */
export async function startWebhookServer(serving: TrustMaterial, namespace = defaultControlNamespace): Promise<Server & AsyncDisposable & { url: string }> {
  const config: InjectionConfig = {
    proxyImage: 'ghcr.io/meshbus/meshbus',
    proxyVersion: '0.1.0',
    gateways: [`meshbus-gateway.${namespace}.svc.cluster.local:8086`],
    controlNamespace: namespace,
    clusterDomain: 'cluster.local',
    identityAudience: 'identity.meshbus.io',
    tokenExpirationSeconds: 86_400,
    trustAnchors: { kind: 'configMap', name: trustAnchorsConfigMapName },
    trustRootSha256: 'unknown',
    cniMode: false,
    nativeSidecar: false,
    defaults: { logLevel: 'info', logFormat: 'json', cpuRequest: '100m', memoryRequest: '64Mi', shutdownGracePeriod: '30s', accessLog: 'off' },
    injectedBy: 'meshbus-injector/test',
  };
  const server = createServer({ cert: serving.certificatePem, key: serving.privateKeyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void reviewAdmission(Buffer.concat(chunks).toString('utf8'), { get: async () => undefined }, config).then((answer) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return Object.assign(server, {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/** Where the installation's services answer: the injector's webhook (HTTPS) and the NATS monitor (HTTP). */
export interface InstallationBackends {
  readonly webhookUrl: string;
  readonly natsMonitorUrl: string;
}

/**
 * Routes the fake API server's service proxy for the installation's services to local backends,
 * as the API server forwards to their pods: the injector's port 443 and the NATS monitor port.
 */
export function serveBackends(fake: FakeKubeApi, backends: InstallationBackends, namespace = defaultControlNamespace): void {
  fake.setServiceProxy({ namespace, name: componentName('injector'), port: 443 }, backends.webhookUrl);
  fake.setServiceProxy({ namespace, name: componentName('nats'), port: natsPorts.monitor }, backends.natsMonitorUrl);
}
