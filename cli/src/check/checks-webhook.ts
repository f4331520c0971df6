import { randomUUID, createPrivateKey } from 'node:crypto';
import { componentName, injectorTlsSecretName, webhookConfigurationName, webhookName } from '@meshbus/install';
import { injectAnnotation, podCreateReview } from '@meshbus/injector';
import { objectPath, serviceProxyPath, statusMessage, withLabels, type KubeObject } from './cluster.js';
import { chainsTo, describeExpiry, expiryOf, parseCertificateBundle, type CertificateFacts } from './certificates.js';
import { Category, secretText, type CheckContext, type ClusterCheck } from './context.js';
import { fail, pass, warn } from './model.js';

/** The webhook's CA and serving certificate warn this long before they expire. */
export const webhookCertificateWarnDays = 30;

interface WebhookConfiguration extends KubeObject {
  readonly webhooks?: readonly {
    readonly name?: string;
    readonly clientConfig?: {
      readonly caBundle?: string;
      readonly service?: { readonly namespace?: string; readonly name?: string; readonly path?: string; readonly port?: number };
    };
  }[];
}

type Webhook = NonNullable<WebhookConfiguration['webhooks']>[number];

async function readWebhook(context: CheckContext, signal: AbortSignal): Promise<Webhook | undefined> {
  const path = objectPath('admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', { name: webhookConfigurationName });
  const configuration = await context.cluster.get<WebhookConfiguration>(path, signal);
  return configuration?.webhooks?.find((w) => w.name === webhookName);
}

async function requireWebhook(context: CheckContext, signal: AbortSignal): Promise<Webhook> {
  const webhook = await readWebhook(context, signal);
  if (!webhook) throw new Error(`mutatingwebhookconfiguration ${webhookConfigurationName} has no webhook ${webhookName}`);
  return webhook;
}

function caBundleOf(webhook: Webhook): CertificateFacts[] {
  const encoded = webhook.clientConfig?.caBundle;
  if (!encoded) throw new Error(`webhook ${webhookName} has no clientConfig.caBundle`);
  return parseCertificateBundle(Buffer.from(encoded, 'base64').toString('utf8'), `the caBundle of webhook ${webhookName}`);
}

/** The DNS name the API server checks in the injector's certificate. */
export function injectorServiceDnsName(namespace: string): string {
  return `${componentName('injector')}.${namespace}.svc`;
}

/** The webhook configuration, its CA bundle and serving certificate, and that it answers. */
export function webhookChecks(): ClusterCheck[] {
  const service = componentName('injector');
  return [
    {
      id: 'webhook.configuration',
      category: Category.webhook,
      name: `mutating webhook configuration ${webhookConfigurationName} points at the injector`,
      dependsOn: ['api.reachable'],
      async run(context, signal) {
        const { namespace } = context;
        const webhook = await readWebhook(context, signal);
        if (!webhook) return fail(`mutatingwebhookconfiguration ${webhookConfigurationName} with webhook ${webhookName} not found; apply the output of meshbus install again`);
        const target = webhook.clientConfig?.service;
        if (target?.name !== service || target.namespace !== namespace) {
          return fail(`webhook ${webhookName} calls ${target ? `service ${target.namespace ?? '?'}/${target.name ?? '?'}` : 'no service'}, not ${namespace}/${service}; apply the output of meshbus install again`);
        }
        return pass();
      },
    },
    {
      id: 'webhook.ca-bundle',
      category: Category.webhook,
      name: 'webhook CA bundle is a valid CA certificate',
      dependsOn: ['webhook.configuration'],
      async run(context, signal) {
        const bundle = caBundleOf(await requireWebhook(context, signal));
        const now = context.now();
        const notCa = bundle.filter((c) => !c.isCa);
        if (notCa.length > 0) return fail(`${notCa.map((c) => c.subject).join(', ')} in the caBundle is not a CA certificate; re-render the webhook configuration with meshbus install`);
        const expiries = bundle.map((c) => ({ c, e: expiryOf(c, now, webhookCertificateWarnDays) }));
        const bad = expiries.find(({ e }) => e.state === 'expired' || e.state === 'not-yet-valid');
        if (bad) return fail(`${describeExpiry(bad.c, bad.e)}; rotate the webhook certificates (meshbus install renders new ones)`);
        const soon = expiries.find(({ e }) => e.state === 'expiring');
        if (soon) return warn(`${describeExpiry(soon.c, soon.e)}; rotate the webhook certificates before then`);
        return pass();
      },
    },
    {
      id: 'webhook.serving-certificate',
      category: Category.webhook,
      name: "webhook CA bundle verifies the injector's serving certificate",
      dependsOn: ['webhook.ca-bundle'],
      async run(context, signal) {
        const { cluster, namespace } = context;
        const bundle = caBundleOf(await requireWebhook(context, signal));
        const secret = await cluster.get<KubeObject & { data?: Record<string, string> }>(objectPath('v1', 'secrets', { namespace, name: injectorTlsSecretName }), signal);
        if (!secret) return fail(`secret ${injectorTlsSecretName} not found in namespace ${namespace}; apply the output of meshbus install again`);
        const certPem = secretText(secret, 'tls.crt');
        const keyPem = secretText(secret, 'tls.key');
        if (certPem === undefined || keyPem === undefined) return fail(`secret ${injectorTlsSecretName} needs tls.crt and tls.key (type kubernetes.io/tls)`);
        const [leaf, ...intermediates] = parseCertificateBundle(certPem, `tls.crt of secret ${injectorTlsSecretName}`);
        const dnsName = injectorServiceDnsName(namespace);
        if (!chainsTo(leaf, intermediates, bundle)) {
          return fail(`the caBundle of webhook ${webhookName} did not sign ${leaf.subject}, the certificate in secret ${injectorTlsSecretName}: the API server will refuse the injector; render both again with meshbus install`);
        }
        if (leaf.x509.checkHost(dnsName) === undefined) return fail(`the certificate in secret ${injectorTlsSecretName} is not for ${dnsName}; render it again with meshbus install`);
        let matches = false;
        try {
          matches = leaf.x509.checkPrivateKey(createPrivateKey(keyPem));
        } catch (error) {
          return fail(`tls.key of secret ${injectorTlsSecretName} is not a PEM private key: ${(error as Error).message}`);
        }
        if (!matches) return fail(`tls.key of secret ${injectorTlsSecretName} does not belong to its tls.crt`);
        const expiry = expiryOf(leaf, context.now(), webhookCertificateWarnDays);
        if (expiry.state === 'expired' || expiry.state === 'not-yet-valid') return fail(`the serving certificate ${describeExpiry(leaf, expiry)}; rotate the webhook certificates`);
        if (expiry.state === 'expiring') return warn(`the serving certificate ${describeExpiry(leaf, expiry)}; rotate the webhook certificates before then`);
        return pass();
      },
    },
    {
      id: 'webhook.endpoints',
      category: Category.webhook,
      name: `service ${service} has ready endpoints`,
      dependsOn: ['webhook.configuration'],
      async run({ cluster, namespace }, signal) {
        const slices = await cluster.list<KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] }>(
          withLabels(objectPath('discovery.k8s.io/v1', 'endpointslices', { namespace }), { 'kubernetes.io/service-name': service }),
          signal,
        );
        const ready = slices.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
        if (ready > 0) return pass(`${ready} ready endpoint${ready === 1 ? '' : 's'}`);
        return fail(`no ready endpoints: the webhook cannot be called; see kubectl -n ${namespace} get endpointslices -l kubernetes.io/service-name=${service} and the pods of deployment ${service}`);
      },
    },
    {
      id: 'webhook.answers',
      category: Category.webhook,
      name: 'webhook answers a dry-run admission review',
      dependsOn: ['webhook.endpoints'],
      async run(context, signal) {
        const { cluster, namespace } = context;
        const webhook = await requireWebhook(context, signal);
        const target = webhook.clientConfig?.service;
        const path = serviceProxyPath({ namespace, name: service, port: target?.port ?? 443, scheme: 'https' }, target?.path ?? '/');
        const uid = randomUUID();
        const review = admissionProbe(uid, namespace);
        let res;
        try {
          res = await cluster.http.request({ method: 'POST', path, body: review, signal });
        } catch (error) {
          return fail(`the webhook did not answer through the API server: ${(error as Error).message}; see kubectl -n ${namespace} logs deployment/${service}`);
        }
        if (res.status !== 200) return fail(`the webhook answers ${res.status}: ${statusMessage(res.body)}; see kubectl -n ${namespace} logs deployment/${service}`);
        let answer: { response?: { uid?: unknown; allowed?: unknown } };
        try {
          answer = JSON.parse(res.body) as typeof answer;
        } catch {
          return fail(`the webhook's answer is not JSON: ${statusMessage(res.body)}`);
        }
        if (answer.response?.uid !== uid) return fail(`the webhook answered uid ${JSON.stringify(answer.response?.uid)}, not the request's ${uid}: is something else listening on service ${service}?`);
        if (answer.response.allowed !== true) return fail('the webhook refused a pod that opts out of injection; see its logs');
        return pass();
      },
    },
  ];
}

/** A dry-run pod CREATE that opts out of injection: answering it changes nothing. */
export function admissionProbe(uid: string, namespace: string): unknown {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'meshbus-check', namespace, annotations: { [injectAnnotation]: 'disabled' } },
    spec: { containers: [{ name: 'check', image: 'meshbus-check' }] },
  };
  return podCreateReview(pod, { uid, namespace, userInfo: { username: 'meshbus-check' }, dryRun: true });
}
