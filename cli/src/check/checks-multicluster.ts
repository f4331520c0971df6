import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { isIpAddress } from '@meshbus/core';
import { multiclusterGatewayName, multiclusterName, natsLeafnodeServiceName, natsLeafnodeTlsSecretName } from '@meshbus/install';
import { describeExpiry, expiryOf, issuerOf, parseCertificateBundle } from './certificates.js';
import { objectPath, type KubeObject } from './cluster.js';
import { workloadProblem, type WorkloadObject } from './checks-control-plane.js';
import { Category, readInstallValues, secretText, type CheckContext, type ClusterCheck } from './context.js';
import { fail, pass, warn, type CheckOutcome } from './model.js';

/** Warn this many days before the leaf node certificate expires (`meshbus upgrade` renews it from then on). */
export const leafnodeTlsWarnDays = 30;

type SecretObject = KubeObject & { data?: Record<string, string> };

interface ServiceObject extends KubeObject {
  readonly spec?: { readonly type?: string };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[] } };
}

function deploymentCheck(id: string, name: string): ClusterCheck {
  return {
    id,
    category: Category.multicluster,
    name: `deployment ${name} is ready`,
    dependsOn: ['cp.values'],
    applies: async (context, signal) => (await readInstallValues(context, signal)).multicluster !== undefined,
    async run(context, signal) {
      const { cluster, namespace } = context;
      const deployment = await cluster.get<WorkloadObject>(objectPath('apps/v1', 'deployments', { namespace, name }), signal);
      if (!deployment) return fail(`deployment ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
      const problem = workloadProblem(deployment, 'deployment');
      return problem === undefined ? pass() : fail(`${problem}; see kubectl -n ${namespace} describe deployment ${name}`);
    },
  };
}

/** A Service linked clusters connect to: it exists and, as a LoadBalancer, has an address. */
function exposedServiceCheck(id: string, name: string, what: string, relevant: (mc: NonNullable<Awaited<ReturnType<typeof readInstallValues>>['multicluster']>, external: boolean) => boolean): ClusterCheck {
  return {
    id,
    category: Category.multicluster,
    name: `service ${name} ${what}`,
    dependsOn: ['cp.values'],
    async applies(context, signal) {
      const values = await readInstallValues(context, signal);
      return values.multicluster !== undefined && relevant(values.multicluster, values.natsUrl !== undefined);
    },
    async run(context, signal) {
      const { cluster, namespace } = context;
      const service = await cluster.get<ServiceObject>(objectPath('v1', 'services', { namespace, name }), signal);
      if (!service) return fail(`service ${name} not found in namespace ${namespace}; apply the output of meshbus install again`);
      if (service.spec?.type !== 'LoadBalancer') return pass(service.spec?.type ?? 'ClusterIP');
      const ingress = (service.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).filter((a): a is string => a !== undefined);
      if (ingress.length === 0) return warn(`the load balancer has no address yet, so linked clusters cannot reach it; see kubectl -n ${namespace} describe service ${name}`);
      return pass(ingress.join(', '));
    },
  };
}

type Multicluster = NonNullable<Awaited<ReturnType<typeof readInstallValues>>['multicluster']>;

async function multiclusterValues(context: CheckContext, signal: AbortSignal): Promise<Multicluster | undefined> {
  return (await readInstallValues(context, signal)).multicluster;
}

const secretPath = (namespace: string, name: string) => objectPath('v1', 'secrets', { namespace, name });
const renew = 'run meshbus upgrade | kubectl apply -f - (it signs a new certificate for the configured hosts with the kept CA), then restart the meshbus-nats pods';

/** The listener's certificate: readable, its key, not expired, naming every host linked clusters connect to. */
async function leafnodeCertificate(context: CheckContext, signal: AbortSignal): Promise<CheckOutcome> {
  const hosts = (await multiclusterValues(context, signal))?.leafnodeTls?.hosts ?? [];
  const secret = await context.cluster.get<SecretObject>(secretPath(context.namespace, natsLeafnodeTlsSecretName), signal);
  if (!secret) return fail(`secret ${natsLeafnodeTlsSecretName} not found in namespace ${context.namespace}; the leaf node listener cannot start TLS; apply the output of meshbus upgrade again`);
  const missing = ['tls.crt', 'tls.key', 'ca.crt'].filter((k) => secretText(secret, k) === undefined);
  if (missing.length > 0) return fail(`secret ${natsLeafnodeTlsSecretName} has no ${missing.join(', ')}; apply the output of meshbus upgrade again`);
  const [cert] = parseCertificateBundle(secretText(secret, 'tls.crt')!, `tls.crt of secret ${natsLeafnodeTlsSecretName}`);
  let matches: boolean;
  try {
    matches = cert.x509.checkPrivateKey(createPrivateKey(secretText(secret, 'tls.key')!));
  } catch (error) {
    return fail(`tls.key of secret ${natsLeafnodeTlsSecretName} is not a PEM private key: ${(error as Error).message}; ${renew}`);
  }
  if (!matches) return fail(`tls.key of secret ${natsLeafnodeTlsSecretName} does not belong to its tls.crt; ${renew}`);
  const unnamed = hosts.filter((h) => !names(cert.x509, h));
  if (unnamed.length > 0) return fail(`the leaf node certificate does not name ${unnamed.join(', ')} (multicluster.leafnode.tls.hosts), so linked clusters connecting there refuse it; ${renew}`);
  const expiry = expiryOf(cert, context.now(), leafnodeTlsWarnDays);
  if (expiry.state === 'expired' || expiry.state === 'not-yet-valid') return fail(`the leaf node certificate ${describeExpiry(cert, expiry)}; linked clusters refuse it; ${renew}`);
  if (expiry.state === 'expiring') return warn(`the leaf node certificate ${describeExpiry(cert, expiry)}; ${renew}`);
  return pass(`${describeExpiry(cert, expiry)}; names ${hosts.join(', ')}`);
}

function names(cert: X509Certificate, host: string): boolean {
  return isIpAddress(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host, { wildcards: false }) !== undefined;
}

/** The listener's certificate is signed by the CA of its Secret, which is what linked clusters hold. */
async function leafnodeChain(context: CheckContext, signal: AbortSignal): Promise<CheckOutcome> {
  const secret = await context.cluster.get<SecretObject>(secretPath(context.namespace, natsLeafnodeTlsSecretName), signal);
  const [cert] = parseCertificateBundle(secretText(secret, 'tls.crt') ?? '', `tls.crt of secret ${natsLeafnodeTlsSecretName}`);
  const cas = parseCertificateBundle(secretText(secret, 'ca.crt') ?? '', `ca.crt of secret ${natsLeafnodeTlsSecretName}`);
  const ca = issuerOf(cert, cas);
  if (!ca) {
    return fail(
      `tls.crt of secret ${natsLeafnodeTlsSecretName} is not signed by its ca.crt, so linked clusters (which hold that CA) refuse it; delete the secret and run meshbus upgrade | kubectl apply -f - for a new CA and certificate, then give each linked cluster the new ca.crt`,
    );
  }
  const expiry = expiryOf(ca, context.now(), leafnodeTlsWarnDays);
  if (expiry.state === 'expired' || expiry.state === 'not-yet-valid') {
    return fail(`the leaf node CA ${describeExpiry(ca, expiry)}; delete secret ${natsLeafnodeTlsSecretName}, run meshbus upgrade | kubectl apply -f - for a new CA, and give each linked cluster the new ca.crt`);
  }
  if (expiry.state === 'expiring') return warn(`the leaf node CA ${describeExpiry(ca, expiry)}; plan a new CA: delete secret ${natsLeafnodeTlsSecretName}, run meshbus upgrade, and give each linked cluster the new ca.crt`);
  return pass(ca.subject);
}

/** Each TLS link's CA: its Secret and key are there and hold a PEM certificate. */
async function linkCas(context: CheckContext, signal: AbortSignal): Promise<CheckOutcome> {
  const mc = await multiclusterValues(context, signal);
  const problems: string[] = [];
  const now = context.now();
  for (const { cluster, caSecret } of mc?.tlsLinks ?? []) {
    const secret = await context.cluster.get<SecretObject>(secretPath(context.namespace, caSecret.name), signal);
    const pem = secretText(secret, caSecret.key);
    const copy = `copy ca.crt of secret ${natsLeafnodeTlsSecretName} in ${cluster} there (kubectl get secret ${natsLeafnodeTlsSecretName} -o jsonpath='{.data.ca\\.crt}' in ${cluster})`;
    if (!secret) problems.push(`link to ${cluster}: secret ${caSecret.name} not found; ${copy}`);
    else if (pem === undefined) problems.push(`link to ${cluster}: secret ${caSecret.name} has no key ${caSecret.key}; ${copy}`);
    else {
      try {
        const [ca] = parseCertificateBundle(pem, `${caSecret.key} of secret ${caSecret.name}`);
        const expiry = expiryOf(ca, now, 0);
        if (expiry.state === 'expired' || expiry.state === 'not-yet-valid') problems.push(`link to ${cluster}: the CA in ${caSecret.key} of secret ${caSecret.name} ${describeExpiry(ca, expiry)}; ${copy}`);
      } catch (error) {
        problems.push(`link to ${cluster}: ${(error as Error).message}; ${copy}`);
      }
    }
  }
  if (problems.length > 0) return fail(`${problems.join('; ')}; then restart the meshbus-nats pods`);
  return pass((mc?.tlsLinks ?? []).map((l) => `${l.cluster}: ${l.caSecret.name}/${l.caSecret.key}`).join(', '));
}

/** The multicluster service, its gateway and, for an exporting cluster, the leaf node listener's Service; left out unless the values enable multicluster. */
export function multiclusterChecks(): ClusterCheck[] {
  return [
    deploymentCheck('mc.deployment.multicluster', multiclusterName),
    deploymentCheck('mc.deployment.gateway', multiclusterGatewayName),
    exposedServiceCheck('mc.service.gateway', multiclusterGatewayName, 'has an address for linked clusters', () => true),
    // Only an exporting cluster with the bundled NATS has the leaf node listener's Service.
    exposedServiceCheck('mc.service.leafnodes', natsLeafnodeServiceName, 'has an address for linked clusters', (mc, external) => mc.exports && !external),
    // The leaf node TLS of the bundled NATS: the listener's certificate, and the CA each TLS link checks the other side with.
    {
      id: 'mc.leafnode-tls.certificate',
      category: Category.multicluster,
      name: `leaf node certificate in secret ${natsLeafnodeTlsSecretName} is valid for the configured hosts`,
      dependsOn: ['cp.values'],
      applies: async (context, signal) => (await multiclusterValues(context, signal))?.leafnodeTls !== undefined,
      run: leafnodeCertificate,
    },
    {
      id: 'mc.leafnode-tls.chain',
      category: Category.multicluster,
      name: `leaf node certificate chains to the CA linked clusters hold (ca.crt of ${natsLeafnodeTlsSecretName})`,
      dependsOn: ['mc.leafnode-tls.certificate'],
      run: leafnodeChain,
    },
    {
      id: 'mc.link-ca',
      category: Category.multicluster,
      name: 'the CA of each TLS link is in its secret',
      dependsOn: ['cp.values'],
      applies: async (context, signal) => ((await multiclusterValues(context, signal))?.tlsLinks.length ?? 0) > 0,
      run: linkCas,
    },
  ];
}
