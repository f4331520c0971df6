import { ListWatch, Watch, type KubeConfig } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { collectionPath, resourceName, type KubeResource } from './kube-resources.js';
import { listCollection, statusOf } from './kube-list.js';
import { objectKey, type KubeObject } from './kube-object.js';

/** A change an informer reports: an object as it is now, or one that is gone. */
export type InformerEvent = { readonly type: 'upsert'; readonly object: KubeObject } | { readonly type: 'delete'; readonly object: KubeObject };

/** What an informer tells about itself (metrics and logs). */
export interface InformerObserver {
  /** The list or watch failed; a retry follows. */
  failed?(resource: string, err: unknown): void;
  /** The collection is (still) not served by the API server. */
  missing?(resource: string): void;
  /** The informer has (or has lost) a full view of its collection. */
  synced?(resource: string, synced: boolean): void;
}

/** Options of {@link ResourceInformer}. */
export interface ResourceInformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly resource: KubeResource;
  /** Called for every change of the view, in order; never for an object whose resourceVersion did not change. */
  readonly onEvent: (event: InformerEvent) => void;
  readonly logger: Logger;
  readonly observer?: InformerObserver;
  /** A full list at this interval; only differences are reported. @default 10 minutes */
  readonly resyncIntervalMs?: number;
  /** How often a collection the server does not serve (404) is looked for again. @default 30 seconds */
  readonly missingRetryMs?: number;
  /** First wait after an error, doubled up to `maxBackoffMs`. @default 500 */
  readonly initialBackoffMs?: number;
  /** @default 30 seconds */
  readonly maxBackoffMs?: number;
  /** Asks the server to end each watch after this long (it is then resumed), so that a dead connection cannot hang forever. @default 5 minutes */
  readonly watchTimeoutSeconds?: number;
}

/** A client-node Watch that asks for bookmarks and for the server to end the watch after a while. */
class BookmarkWatch extends Watch {
  readonly #timeoutSeconds: number;
  constructor(kubeConfig: KubeConfig, timeoutSeconds: number) {
    super(kubeConfig);
    this.#timeoutSeconds = timeoutSeconds;
  }
  override watch(path: string, queryParams: Record<string, unknown>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    const jitter = Math.floor(Math.random() * (this.#timeoutSeconds / 5));
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.#timeoutSeconds + jitter }, callback, done);
  }
}

/**
 * A view of one collection across all namespaces, kept current through a
 * client-node informer (`ListWatch`, what `makeInformer` builds, here with a
 * watch that asks for bookmarks).
 *
 * - `start()` resolves once the first full list has been reported.
 * - A closed watch resumes from the last resourceVersion, and 410 Gone makes
 *   client-node list again: both inside the informer.
 * - Any other error of a list or watch: the view stays as it was, and after
 *   a backoff a fresh informer lists again; only differences are reported.
 * - Every `resyncIntervalMs`, a fresh informer lists again and replaces the
 *   old one, reporting only what differs.
 * - A collection the server does not serve (404: a CRD not installed) is an
 *   empty view, logged once and looked for again every `missingRetryMs`.
 */
export class ResourceInformer implements AsyncDisposable {
  readonly resource: KubeResource;
  readonly name: string;
  readonly #options: ResourceInformerOptions;
  readonly #view = new Map<string, KubeObject>();
  #current: ListWatch<KubeObject> | undefined;
  #synced = false;
  #missing = false;
  #disposed = false;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #replacing: Promise<void> | undefined;
  #firstSync: { promise: Promise<void>; resolve: () => void };

  constructor(options: ResourceInformerOptions) {
    this.#options = options;
    this.resource = options.resource;
    this.name = resourceName(options.resource);
    this.#backoffMs = options.initialBackoffMs ?? 500;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#firstSync = { promise, resolve };
  }

  /** Whether the view is complete: the first list was reported (or the collection is not served). */
  get synced(): boolean {
    return this.#synced;
  }

  /** Whether the server does not serve the collection (it is then an empty view). */
  get missing(): boolean {
    return this.#missing;
  }

  /** The objects of the view, by `<namespace>/<name>`. */
  get objects(): ReadonlyMap<string, KubeObject> {
    return this.#view;
  }

  /** Lists and starts watching; resolves after the first full list has been reported (retrying errors meanwhile). */
  async start(): Promise<void> {
    void this.#replace();
    await this.#firstSync.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    clearTimeout(this.#timer);
    const current = this.#current;
    this.#current = undefined;
    await current?.stop();
    this.#firstSync.resolve();
  }

  /** Lists with a fresh informer and, once it has its list, makes it the current one. */
  #replace(): Promise<void> {
    this.#replacing ??= this.#doReplace().finally(() => (this.#replacing = undefined));
    return this.#replacing;
  }

  async #doReplace(): Promise<void> {
    clearTimeout(this.#timer);
    const path = collectionPath(this.resource);
    const timeoutSeconds = this.#options.watchTimeoutSeconds ?? 300;
    const next = new ListWatch<KubeObject>(path, new BookmarkWatch(this.#options.kubeConfig, timeoutSeconds), () => listCollection(this.#options.kubeConfig, path), false);
    let startError: { err: unknown } | undefined;
    const isCurrent = () => this.#current === next && !this.#disposed;
    next.on('add', (object) => isCurrent() && this.#upsert(object));
    next.on('update', (object) => isCurrent() && this.#upsert(object));
    next.on('delete', (object) => isCurrent() && this.#delete(objectKey(object)));
    next.on('error', (err) => {
      if (isCurrent()) this.#failed(next, err);
      else startError ??= { err };
    });
    try {
      await next.start();
    } catch (err) {
      startError ??= { err };
    }
    if (this.#disposed) {
      await next.stop();
      return;
    }
    if (startError) {
      await next.stop();
      this.#failed(undefined, startError.err);
      return;
    }
    const previous = this.#current;
    this.#current = next;
    this.#reconcile(next.list());
    this.#backoffMs = this.#options.initialBackoffMs ?? 500;
    if (this.#missing) this.#options.logger.info({ resource: this.name }, 'Kubernetes resource is served now');
    this.#missing = false;
    this.#markSynced();
    this.#schedule(this.#options.resyncIntervalMs ?? 600_000);
    await previous?.stop();
  }

  /** Reports what differs between the view and a full list, and adopts the list. */
  #reconcile(objects: readonly KubeObject[]): void {
    const seen = new Set<string>();
    for (const object of objects) {
      seen.add(objectKey(object));
      this.#upsert(object);
    }
    for (const key of [...this.#view.keys()]) if (!seen.has(key)) this.#delete(key);
  }

  #upsert(object: KubeObject): void {
    const key = objectKey(object);
    const known = this.#view.get(key);
    if (known && known.metadata.resourceVersion !== undefined && known.metadata.resourceVersion === object.metadata.resourceVersion) return;
    this.#view.set(key, object);
    this.#emit({ type: 'upsert', object });
  }

  #delete(key: string): void {
    const known = this.#view.get(key);
    if (!known) return;
    this.#view.delete(key);
    this.#emit({ type: 'delete', object: known });
  }

  #emit(event: InformerEvent): void {
    try {
      this.#options.onEvent(event);
    } catch (err) {
      this.#options.logger.error({ err, resource: this.name }, 'Kubernetes change handler failed');
    }
  }

  /** An error of a list or watch: a 404 empties the view; anything else keeps it. Either way, try again later. */
  #failed(informer: ListWatch<KubeObject> | undefined, err: unknown): void {
    if (this.#disposed) return;
    if (informer && this.#current === informer) {
      this.#current = undefined;
      void informer.stop();
    }
    if (statusOf(err) === 404) {
      if (!this.#missing) {
        this.#options.logger.warn(
          { resource: this.name, retryMs: this.#options.missingRetryMs ?? 30_000 },
          'Kubernetes resource is not served (CRD not installed?); it is read as empty and looked for again periodically',
        );
        this.#options.observer?.missing?.(this.name);
      }
      this.#missing = true;
      for (const key of [...this.#view.keys()]) this.#delete(key);
      this.#markSynced();
      this.#schedule(this.#options.missingRetryMs ?? 30_000);
      return;
    }
    this.#options.observer?.failed?.(this.name, err);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 30_000);
    this.#options.logger.warn({ resource: this.name, err: errorMessage(err), status: statusOf(err), retryMs: delay }, 'Kubernetes list or watch failed; what was read stays, and it is listed again');
    this.#schedule(delay);
  }

  #markSynced(): void {
    if (!this.#synced) {
      this.#synced = true;
      this.#options.observer?.synced?.(this.name, true);
    }
    this.#firstSync.resolve();
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#disposed) return;
    this.#timer = setTimeout(() => void this.#replace(), delayMs);
    this.#timer.unref();
  }
}
