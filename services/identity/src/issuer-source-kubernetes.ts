import { readFile } from 'node:fs/promises';
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { errorMessage, type Logger } from '@meshbus/runtime';
import type { IssuerMaterial, IssuerSource, IssuerSourceListener } from './issuer-source.js';
import { describeApiError } from '@meshbus/trust/kubernetes';

/** A namespaced Kubernetes object, by name. */
export interface ObjectRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Where the trust anchors are kept when they are not the `ca.crt` of the issuer Secret: a key of
 * a ConfigMap or Secret (watched too), or a file (re-read with the Secret and periodically).
 */
export type TrustAnchorsLocation =
  | { readonly kind: 'configmap'; readonly namespace: string; readonly name: string; readonly key: string }
  | { readonly kind: 'secret'; readonly namespace: string; readonly name: string; readonly key: string }
  | { readonly kind: 'file'; readonly path: string };

/** Options of {@link KubernetesIssuerSource}. */
export interface KubernetesIssuerSourceOptions {
  readonly kubeConfig: KubeConfig;
  /** The Secret holding the issuer. */
  readonly secret: ObjectRef;
  /** Where the anchors are. @default the `ca.crt` key of the issuer Secret */
  readonly trustAnchors?: TrustAnchorsLocation;
  /** Re-report the material this often (picks up anchor files that changed). @default 30000 */
  readonly recheckIntervalMs?: number;
  /** Longest wait before re-establishing a failed watch; waits start at 250 ms and double. @default 30000 */
  readonly maxRetryMs?: number;
  readonly logger: Logger;
}

/**
 * The issuer in a Kubernetes Secret, watched with list+watch on that one Secret. Two layouts are
 * read: `kubernetes.io/tls` (`tls.crt`, `tls.key`, anchors in `ca.crt`), as cert-manager writes
 * it, and `crt.pem`/`key.pem`, whose anchors come from a separately configured location.
 */
export class KubernetesIssuerSource implements IssuerSource {
  readonly description: string;
  private readonly secretWatch: NamedObjectWatch<V1Secret>;
  private readonly anchorsWatch: NamedObjectWatch<V1Secret> | NamedObjectWatch<V1ConfigMap> | undefined;
  private listener: IssuerSourceListener | undefined;
  private started = false;
  private stopped = false;
  private recheckTimer: NodeJS.Timeout | undefined;
  private reporting: Promise<void> = Promise.resolve();

  constructor(private readonly options: KubernetesIssuerSourceOptions) {
    const { secret, trustAnchors } = options;
    this.description = `secret:${secret.namespace}/${secret.name}`;
    const onChange = () => this.report();
    const watchOptions = { kubeConfig: options.kubeConfig, logger: options.logger, maxRetryMs: options.maxRetryMs ?? 30_000, onChange };
    this.secretWatch = new NamedObjectWatch<V1Secret>({ ...watchOptions, resource: 'secrets', object: secret });
    if (trustAnchors?.kind === 'secret') {
      this.anchorsWatch = new NamedObjectWatch<V1Secret>({ ...watchOptions, resource: 'secrets', object: trustAnchors });
    } else if (trustAnchors?.kind === 'configmap') {
      this.anchorsWatch = new NamedObjectWatch<V1ConfigMap>({ ...watchOptions, resource: 'configmaps', object: trustAnchors });
    }
  }

  async start(listener: IssuerSourceListener): Promise<void> {
    this.listener = listener;
    await Promise.all([this.secretWatch.start(), this.anchorsWatch?.start()]);
    this.started = true;
    this.report();
    await this.reporting;
    this.recheckTimer = setInterval(() => this.report(), this.options.recheckIntervalMs ?? 30_000);
    this.recheckTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.recheckTimer);
    await Promise.all([this.secretWatch.stop(), this.anchorsWatch?.stop()]);
    await this.reporting;
  }

  private report(): void {
    if (!this.started || this.stopped) return;
    this.reporting = this.reporting.then(async () => {
      let material: IssuerMaterial;
      try {
        material = await this.read();
      } catch (error) {
        if (!this.stopped) this.listener?.unreadable(errorMessage(error));
        return;
      }
      if (!this.stopped) this.listener?.material(material);
    });
  }

  private async read(): Promise<IssuerMaterial> {
    const { secret: ref, trustAnchors } = this.options;
    const secret = this.secretWatch.require();
    const data = secret.data ?? {};
    let issuerCertificatePem: string;
    let issuerKeyPem: string;
    if (data['tls.crt'] !== undefined && data['tls.key'] !== undefined) {
      issuerCertificatePem = fromBase64(data['tls.crt']);
      issuerKeyPem = fromBase64(data['tls.key']);
    } else if (data['crt.pem'] !== undefined && data['key.pem'] !== undefined) {
      issuerCertificatePem = fromBase64(data['crt.pem']);
      issuerKeyPem = fromBase64(data['key.pem']);
    } else {
      throw new Error(
        `Secret ${ref.namespace}/${ref.name} has neither tls.crt and tls.key (kubernetes.io/tls) nor crt.pem and key.pem; found keys: ${Object.keys(data).join(', ') || 'none'}`,
      );
    }
    let trustAnchorsPem: string;
    if (trustAnchors === undefined) {
      if (data['ca.crt'] === undefined) {
        throw new Error(`Secret ${ref.namespace}/${ref.name} has no ca.crt with the trust anchors, and no other trust anchors location is configured`);
      }
      trustAnchorsPem = fromBase64(data['ca.crt']);
    } else if (trustAnchors.kind === 'file') {
      try {
        trustAnchorsPem = await readFile(trustAnchors.path, 'utf8');
      } catch (error) {
        throw new Error(`trust anchors file ${trustAnchors.path} cannot be read: ${errorMessage(error)}`);
      }
    } else {
      const holder = this.anchorsWatch!.require();
      const where = `${trustAnchors.kind === 'secret' ? 'Secret' : 'ConfigMap'} ${trustAnchors.namespace}/${trustAnchors.name}`;
      const value =
        trustAnchors.kind === 'secret'
          ? mapGet((holder as V1Secret).data, trustAnchors.key, fromBase64)
          : (mapGet((holder as V1ConfigMap).data, trustAnchors.key, (s) => s) ?? mapGet((holder as V1ConfigMap).binaryData, trustAnchors.key, fromBase64));
      if (value === undefined) throw new Error(`${where} has no key ${trustAnchors.key} with the trust anchors`);
      trustAnchorsPem = value;
    }
    return { trustAnchorsPem, issuerCertificatePem, issuerKeyPem };
  }
}

function mapGet(map: Record<string, string> | undefined, key: string, decode: (s: string) => string): string | undefined {
  const value = map?.[key];
  return value === undefined ? undefined : decode(value);
}

function fromBase64(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

interface NamedObjectWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly resource: 'secrets' | 'configmaps';
  readonly object: ObjectRef;
  readonly maxRetryMs: number;
  readonly logger: Logger;
  readonly onChange: () => void;
}

/**
 * One named object kept current with the client's list+watch (ListWatch) and a field selector on
 * its name. ListWatch re-watches after a clean close and relists after 410 Gone; after an error it
 * stops, so this restarts it with a growing delay.
 */
class NamedObjectWatch<T extends V1Secret | V1ConfigMap> {
  private readonly informer: ListWatch<T>;
  private lastError: string | undefined;
  private retryMs = 250;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: NamedObjectWatchOptions) {
    const { kubeConfig, resource, object } = options;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `metadata.name=${object.name}`;
    const list = (): Promise<KubernetesListObject<T>> =>
      (resource === 'secrets'
        ? core.listNamespacedSecret({ namespace: object.namespace, fieldSelector })
        : core.listNamespacedConfigMap({ namespace: object.namespace, fieldSelector })) as Promise<KubernetesListObject<T>>;
    this.informer = new ListWatch<T>(`/api/v1/namespaces/${object.namespace}/${resource}`, new Watch(kubeConfig), list, false, undefined, fieldSelector);
    const changed = () => {
      this.lastError = undefined;
      this.retryMs = 250;
      options.onChange();
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('connect', () => {
      this.lastError = undefined;
    });
    this.informer.on('error', (error: unknown) => this.failed(error));
  }

  private get what(): string {
    const { resource, object } = this.options;
    return `${resource === 'secrets' ? 'Secret' : 'ConfigMap'} ${object.namespace}/${object.name}`;
  }

  /** Resolves after the first list, whether it succeeded or not. */
  async start(): Promise<void> {
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }

  /** The object, or an error saying why there is none. */
  require(): T {
    const { object } = this.options;
    const found = this.informer.get(object.name, object.namespace);
    if (found !== undefined) return found;
    if (this.lastError !== undefined) throw new Error(`cannot read ${this.what}: ${this.lastError}`);
    throw new Error(`${this.what} does not exist`);
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    this.lastError = describeApiError(error);
    this.options.logger.warn({ object: this.what, error: this.lastError, retryInMs: this.retryMs }, 'watch failed; retrying');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      void this.informer.start();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs);
    this.options.onChange();
  }
}
