import { createPrivateKey } from 'node:crypto';
import { issuerSecretName, trustAnchorsConfigMapName } from '@meshbus/install';
import { objectPath, type KubeObject } from './cluster.js';
import { canSignCertificates, chainsTo, describeExpiry, expiryOf, parseCertificateBundle, type CertificateBundle } from './certificates.js';
import { Category, readTrustAnchorsPem, secretText, type CheckContext, type ClusterCheck } from './context.js';
import { fail, pass, warn } from './model.js';

/** Warn this many days before the trust anchors and the issuer expire. */
export const identityWarnDays = { anchors: 60, issuer: 7 } as const;

type SecretObject = KubeObject & { type?: string; data?: Record<string, string> };

async function readIssuerSecret(context: CheckContext, signal: AbortSignal): Promise<SecretObject | undefined> {
  return context.cluster.get<SecretObject>(objectPath('v1', 'secrets', { namespace: context.namespace, name: issuerSecretName }), signal);
}

/** The issuer's certificate chain (issuer first) from the Secret's tls.crt. */
async function readIssuerChain(context: CheckContext, signal: AbortSignal): Promise<CertificateBundle> {
  const pem = secretText(await readIssuerSecret(context, signal), 'tls.crt');
  if (pem === undefined) throw new Error(`secret ${issuerSecretName} has no tls.crt`);
  return parseCertificateBundle(pem, `tls.crt of secret ${issuerSecretName}`);
}

const rotateIssuer = `create a new issuer from the same anchor and update secret ${issuerSecretName} (docs/identity.md, Rotating the issuer)`;

/** The trust anchors and the identity issuer. */
export function identityChecks(): ClusterCheck[] {
  return [
    {
      id: 'identity.issuer-secret',
      category: Category.identity,
      name: `issuer secret ${issuerSecretName} is present`,
      dependsOn: ['cp.namespace'],
      async run(context, signal) {
        const secret = await readIssuerSecret(context, signal);
        if (!secret) return fail(`secret ${issuerSecretName} not found in namespace ${context.namespace}; create it from meshbus identity init material or with cert-manager`);
        const missing = ['tls.crt', 'tls.key'].filter((k) => secretText(secret, k) === undefined);
        if (missing.length > 0) return fail(`secret ${issuerSecretName} has no ${missing.join(' or ')} (it must be of type kubernetes.io/tls)`);
        return pass();
      },
    },
    {
      id: 'identity.anchors',
      category: Category.identity,
      name: 'trust anchors are valid CA certificates',
      dependsOn: ['cp.namespace'],
      async run(context, signal) {
        const anchors = parseCertificateBundle(await readTrustAnchorsPem(context, signal), `configmap ${trustAnchorsConfigMapName}`);
        const notCa = anchors.filter((a) => !canSignCertificates(a));
        if (notCa.length > 0) return fail(`${notCa.map((a) => a.subject).join(', ')} in configmap ${trustAnchorsConfigMapName} is not a CA certificate with keyCertSign`);
        const now = context.now();
        const expiries = anchors.map((a) => ({ a, e: expiryOf(a, now, identityWarnDays.anchors) }));
        const usable = expiries.filter(({ e }) => e.state === 'valid' || e.state === 'expiring');
        if (usable.length === 0) {
          const first = expiries[0]!;
          return fail(`every trust anchor is unusable: ${describeExpiry(first.a, first.e)}; create new anchors and an issuer (meshbus identity init) and roll every meshed pod`);
        }
        const soon = expiries.find(({ e }) => e.state === 'expiring');
        if (soon && usable.every(({ e }) => e.state === 'expiring')) {
          return warn(`trust anchor ${describeExpiry(soon.a, soon.e)}; add the next anchor to configmap ${trustAnchorsConfigMapName} now, so that pods trust it before the old one ends`);
        }
        return pass(`${anchors.length} anchor${anchors.length === 1 ? '' : 's'}`);
      },
    },
    {
      id: 'identity.issuer-certificate',
      category: Category.identity,
      name: 'issuer certificate is a valid CA that may sign certificates',
      dependsOn: ['identity.issuer-secret'],
      async run(context, signal) {
        const [issuer] = await readIssuerChain(context, signal);
        if (!canSignCertificates(issuer)) return fail(`${issuer.subject} is not a CA with keyUsage keyCertSign; the identity service cannot sign with it; ${rotateIssuer}`);
        const keyPem = secretText(await readIssuerSecret(context, signal), 'tls.key')!;
        let matches: boolean;
        try {
          matches = issuer.x509.checkPrivateKey(createPrivateKey(keyPem));
        } catch (error) {
          return fail(`tls.key of secret ${issuerSecretName} is not a PEM private key: ${(error as Error).message}`);
        }
        if (!matches) return fail(`tls.key of secret ${issuerSecretName} does not belong to its tls.crt`);
        const expiry = expiryOf(issuer, context.now(), identityWarnDays.issuer);
        if (expiry.state === 'expired' || expiry.state === 'not-yet-valid') return fail(`the issuer ${describeExpiry(issuer, expiry)}; proxies get no certificates; ${rotateIssuer}`);
        if (expiry.state === 'expiring') return warn(`the issuer ${describeExpiry(issuer, expiry)}; ${rotateIssuer}`);
        return pass(describeExpiry(issuer, expiry));
      },
    },
    {
      id: 'identity.issuer-chain',
      category: Category.identity,
      name: 'issuer certificate chains to the trust anchors',
      dependsOn: ['identity.issuer-secret', 'identity.anchors'],
      async run(context, signal) {
        const [issuer, ...intermediates] = await readIssuerChain(context, signal);
        const anchors = parseCertificateBundle(await readTrustAnchorsPem(context, signal), `configmap ${trustAnchorsConfigMapName}`);
        if (chainsTo(issuer, intermediates, anchors)) return pass();
        return fail(`${issuer.subject} (secret ${issuerSecretName}) is not signed by any anchor in configmap ${trustAnchorsConfigMapName}; the identity service refuses it; create the issuer from a current anchor, or add its anchor to the configmap`);
      },
    },
  ];
}
