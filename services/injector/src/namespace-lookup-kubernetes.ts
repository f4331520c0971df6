import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type ObjectCache, type V1Namespace } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '@meshbus/runtime';
import type { NamespaceLookup } from './admission.js';
import type { NamespaceInfo } from './k8s-types.js';

/** Options of {@link KubernetesNamespaceLookup}. */
export interface KubernetesNamespaceLookupOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Pause before listing and watching again after an error. @default 1000 */
  readonly retryMs?: number;
  /**
   * How long an admission waits for the first list before answering as if the namespace had no
   * annotations. @default 2000
   */
  readonly syncWaitMs?: number;
}

/** The namespace as injection sees it: its name and annotations, nothing else kept. */
function namespaceInfo(ns: V1Namespace): NamespaceInfo | undefined {
  const name = ns.metadata?.name;
  if (name === undefined) return undefined;
  return { name, annotations: { ...(ns.metadata?.annotations ?? {}) } };
}

/**
 * Namespaces from the Kubernetes API (cluster mode): an informer lists and watches namespaces (the
 * only thing the injector's ClusterRole allows) and lookups read its cache, so an admission never
 * calls the API server. Synced once the first list is in; after an error (a lost watch, 410 Gone
 * answered by a new list, the API server away) it lists and watches again.
 */
export class KubernetesNamespaceLookup implements NamespaceLookup {
  private readonly informer: Informer<V1Namespace> & ObjectCache<V1Namespace>;
  private readonly infos = new Map<string, NamespaceInfo>();
  private synced = false;
  private stopped = false;
  private failed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly firstSync: Promise<void>;
  private resolveFirstSync!: () => void;

  constructor(private readonly options: KubernetesNamespaceLookupOptions) {
    const api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.informer = makeInformer(options.kubeConfig, '/api/v1/namespaces', () => api.listNamespace());
    this.firstSync = new Promise((resolve) => (this.resolveFirstSync = resolve));
    const put = (ns: V1Namespace) => {
      const info = namespaceInfo(ns);
      if (info) this.infos.set(info.name, info);
    };
    this.informer.on('add', put);
    this.informer.on('update', put);
    this.informer.on('delete', (ns) => {
      if (ns.metadata?.name !== undefined) this.infos.delete(ns.metadata.name);
    });
    this.informer.on('error', (error: unknown) => {
      this.failed = true;
      if (this.stopped) return;
      options.logger.warn({ error: describe(error) }, 'namespace watch failed; listing again');
      this.scheduleStart();
    });
  }

  /** Whether the first list of namespaces is in. */
  get ready(): boolean {
    return this.synced;
  }

  /** Starts listing and watching; resolves at once (see {@link ready}). */
  start(): void {
    this.run();
  }

  /** Resolves once the first list is in. */
  whenSynced(): Promise<void> {
    return this.firstSync;
  }

  async get(name: string): Promise<NamespaceInfo | undefined> {
    if (!this.synced) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.firstSync, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.syncWaitMs ?? 2000)))]);
      clearTimeout(timer);
    }
    return this.infos.get(name);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }

  private run(): void {
    if (this.stopped) return;
    this.failed = false;
    this.informer.start().then(
      () => {
        // A failed list ends start() without an exception: the error handler has scheduled the next try.
        if (this.failed || this.stopped) return;
        if (!this.synced) this.options.logger.info({ namespaces: this.infos.size }, 'namespaces listed');
        this.synced = true;
        this.resolveFirstSync();
      },
      (error: unknown) => {
        if (this.stopped) return;
        this.options.logger.warn({ error: describe(error) }, 'listing namespaces failed; trying again');
        this.scheduleStart();
      },
    );
  }

  private scheduleStart(): void {
    if (this.stopped || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.run();
    }, this.options.retryMs ?? 1000);
  }
}

function describe(error: unknown): string {
  const e = error as { code?: number; body?: unknown };
  if (typeof e?.code === 'number') return `HTTP ${e.code}: ${typeof e.body === 'string' ? e.body.slice(0, 300) : errorMessage(error)}`;
  return errorMessage(error);
}
