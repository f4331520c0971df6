import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The name the API server calls the webhook by, in the test certificates. */
export const webhookServerName = 'meshbus-injector.meshbus.svc';

/** A folder with a CA (`ca.pem`, also usable as trust anchors) and the webhook's certificate for {@link webhookServerName}. */
export interface WebhookTls {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Makes a CA and a webhook certificate with openssl, in a new temporary folder. */
export function makeWebhookTls(prefix = 'meshbus-injector-'): WebhookTls {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=webhook-ca', '-days', '2', '-out', 'ca.pem');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-subj', '/CN=meshbus-injector', '-out', 'tls.csr');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:${webhookServerName}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'tls.pem');
  return { dir, caFile: join(dir, 'ca.pem'), ca: readFileSync(join(dir, 'ca.pem')), certFile: join(dir, 'tls.pem'), keyFile: join(dir, 'tls.key') };
}

/** A second self-signed certificate (for a rotation of the anchors), as PEM. */
export function makeSelfSigned(dir: string, name: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-days', '2', '-out', `${name}.pem`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return readFileSync(join(dir, `${name}.pem`), 'utf8');
}

/** POSTs `body` to the webhook over HTTPS, checking its certificate against `ca` and the service name. */
export function postReview(port: number, ca: Buffer, body: string, agent?: Agent): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject', method: 'POST', ca, servername: webhookServerName, headers: { 'content-type': 'application/json' }, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An AdmissionReview (admission.k8s.io/v1) of a pod CREATE. */
export function podReview(uid: string, object: unknown, namespace = 'shop', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', object, ...extra },
  });
}

/** The patch of an answer, decoded. */
export function patchOf(json: Record<string, unknown>): Array<{ op: string; path: string; value: unknown }> {
  return JSON.parse(Buffer.from((json.response as { patch: string }).patch, 'base64').toString('utf8')) as Array<{ op: string; path: string; value: unknown }>;
}

/** Reads one sample of a Prometheus text exposition, e.g. `meshbus_injector_events_dropped_total{reason="buffer-full"}`. */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
