import type { KubeConfig } from '@kubernetes/client-node';
import { decodeDocument, ManifestIndex, type ManifestChange, type ManifestProblem, type MeshResources, type ParsedManifestChange, type ResourceSource } from '@meshbus/manifests';
import { Counter, Gauge, canonicalJson, type Logger, type Registry } from '@meshbus/runtime';
import { ResourceInformer, type InformerEvent, type InformerObserver, type ResourceInformerOptions } from './informer.js';
import { apiVersionOf, kubeResources, type KubeResource } from './kube-resources.js';
import { objectKey, type KubeObject } from './kube-object.js';
import { nodeZone, podNodeName, workloadDocumentFromPod } from './pod-workload.js';

/** Options of {@link kubernetesResourceSource}. */
export interface KubernetesResourceSourceOptions extends Pick<ResourceInformerOptions, 'resyncIntervalMs' | 'missingRetryMs' | 'initialBackoffMs' | 'maxBackoffMs' | 'watchTimeoutSeconds'> {
  readonly kubeConfig: KubeConfig;
  /** What to watch, e.g. {@link destinationResources} or {@link policyResources}. */
  readonly resources: readonly KubeResource[];
  readonly logger: Logger;
  /** Where the informers' metrics go. @default none */
  readonly registry?: Registry;
  /** Changes within this long of each other are reported together. @default 50 */
  readonly debounceMs?: number;
}

/** Whether each watched collection has been read in full. */
export interface InformerStatus {
  readonly resource: string;
  readonly synced: boolean;
  /** The API server does not serve it (read as empty). */
  readonly missing: boolean;
}

/** A {@link ResourceSource} over the Kubernetes API, with the state of its informers. */
export interface KubernetesResourceSource extends ResourceSource {
  /** One entry per watched collection. */
  informers(): InformerStatus[];
}

/** The name a Kubernetes object goes by in problems: `kubernetes:<apiVersion>/<kind>/<namespace>/<name>`. */
export function objectFileName(resource: KubeResource, object: KubeObject): string {
  return `kubernetes:${apiVersionOf(resource)}/${resource.kind}/${objectKey(object)}`;
}

/**
 * Mesh resources read from the Kubernetes API server and kept current.
 *
 * Every object is read by the manifest decoder, as if it were a manifest of
 * its own (named by {@link objectFileName}): a refused object is a problem,
 * and a refused change keeps the object's previous valid version. Pods are
 * read as Workloads (see {@link workloadDocumentFromPod}), their zone taken
 * from their Node; Nodes are not resources themselves. Changes are gathered
 * for `debounceMs` and reported as one snapshot; only the objects that
 * changed are decoded again.
 */
export function kubernetesResourceSource(options: KubernetesResourceSourceOptions): KubernetesResourceSource {
  return new KubernetesSource(options);
}

const podResource = kubeResources.pods;
const nodeResource = kubeResources.nodes;

class KubernetesSource implements KubernetesResourceSource {
  readonly #options: KubernetesResourceSourceOptions;
  readonly #index = new ManifestIndex();
  readonly #informers: ResourceInformer[] = [];
  readonly #pending = new Map<string, ManifestChange | ParsedManifestChange>();
  readonly #pods = new Map<string, KubeObject>();
  readonly #podsByNode = new Map<string, Set<string>>();
  readonly #zones = new Map<string, string>();
  readonly #watchesNodes: boolean;
  #onChange: ((resources: MeshResources, problems: readonly ManifestProblem[]) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #state: 'initialized' | 'starting' | 'started' | 'disposed' = 'initialized';

  constructor(options: KubernetesResourceSourceOptions) {
    this.#options = options;
    this.#watchesNodes = options.resources.some((r) => sameResource(r, nodeResource));
  }

  informers(): InformerStatus[] {
    return this.#informers.map((i) => ({ resource: i.name, synced: i.synced, missing: i.missing }));
  }

  async start(onChange: (resources: MeshResources, problems: readonly ManifestProblem[]) => void): Promise<void> {
    if (this.#state !== 'initialized') throw new Error('the Kubernetes resource source was already started');
    this.#state = 'starting';
    this.#onChange = onChange;
    const observer = this.#observer();
    const { kubeConfig, logger } = this.#options;
    for (const resource of this.#options.resources) {
      this.#informers.push(
        new ResourceInformer({
          kubeConfig,
          resource,
          logger,
          observer,
          onEvent: (event) => this.#onEvent(resource, event),
          ...pick(this.#options, ['resyncIntervalMs', 'missingRetryMs', 'initialBackoffMs', 'maxBackoffMs', 'watchTimeoutSeconds']),
        }),
      );
    }
    // Nodes first, so that pods listed later get their zone without a second decode.
    const nodes = this.#informers.filter((i) => sameResource(i.resource, nodeResource));
    await Promise.all(nodes.map((i) => i.start()));
    await Promise.all(this.#informers.filter((i) => !nodes.includes(i)).map((i) => i.start()));
    if (this.#isDisposed()) return;
    this.#state = 'started';
    clearTimeout(this.#timer);
    this.#flush(true);
    logger.info({ resources: this.#informers.length, missing: this.#informers.filter((i) => i.missing).map((i) => i.name) }, 'Kubernetes resources read');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#state = 'disposed';
    clearTimeout(this.#timer);
    await Promise.all(this.#informers.map((i) => i[Symbol.asyncDispose]()));
  }

  /** A method rather than a comparison, because dispose may run during any await. */
  #isDisposed(): boolean {
    return this.#state === 'disposed';
  }

  #onEvent(resource: KubeResource, event: InformerEvent): void {
    if (this.#state === 'disposed') return;
    const object = event.object;
    if (sameResource(resource, nodeResource)) {
      this.#nodeChanged(object, event.type === 'delete');
    } else if (sameResource(resource, podResource)) {
      const key = objectKey(object);
      const before = this.#pods.get(key);
      const beforeNode = before ? podNodeName(before) : undefined;
      if (beforeNode !== undefined) this.#podsByNode.get(beforeNode)?.delete(key);
      if (event.type === 'delete') {
        this.#pods.delete(key);
        this.#pending.set(objectFileName(resource, object), { file: objectFileName(resource, object), deleted: true });
      } else {
        this.#pods.set(key, object);
        const node = podNodeName(object);
        if (node !== undefined) {
          let onNode = this.#podsByNode.get(node);
          if (!onNode) this.#podsByNode.set(node, (onNode = new Set()));
          onNode.add(key);
        }
        this.#pending.set(objectFileName(resource, object), this.#podChange(object));
      }
    } else {
      const file = objectFileName(resource, object);
      this.#pending.set(file, event.type === 'delete' ? { file, deleted: true } : decoded(file, documentOf(resource, object)));
    }
    this.#schedule();
  }

  /** A Node's zone changed: its pods are read again. */
  #nodeChanged(node: KubeObject, deleted: boolean): void {
    const name = node.metadata.name ?? '';
    const zone = deleted ? undefined : nodeZone(node);
    if (this.#zones.get(name) === zone) return;
    if (zone === undefined) this.#zones.delete(name);
    else this.#zones.set(name, zone);
    for (const key of this.#podsByNode.get(name) ?? []) {
      const pod = this.#pods.get(key);
      if (pod) this.#pending.set(objectFileName(podResource, pod), this.#podChange(pod));
    }
  }

  #podChange(pod: KubeObject): ManifestChange | ParsedManifestChange {
    const file = objectFileName(podResource, pod);
    const node = podNodeName(pod);
    const zone = this.#watchesNodes && node !== undefined ? this.#zones.get(node) : undefined;
    const document = workloadDocumentFromPod(pod, zone);
    if (!document) return { file, deleted: true };
    return decoded(file, document, (resource) => ({ ...resource, source: 'Pod' }));
  }

  #schedule(): void {
    if (this.#state !== 'started' || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush(false);
    }, this.#options.debounceMs ?? 50);
  }

  /** Applies the gathered changes as one batch, and reports the new snapshot when anything changed (always the first time). */
  #flush(first: boolean): void {
    const changes = [...this.#pending.values()];
    this.#pending.clear();
    const update = this.#index.applyAll(changes);
    if (!first && !update.resourcesChanged && !update.problemsChanged) return;
    try {
      this.#onChange?.(this.#index.resources, this.#index.problems);
    } catch (err) {
      this.#options.logger.error({ err }, 'Kubernetes resources change handler failed');
    }
  }

  #observer(): InformerObserver {
    const registry = this.#options.registry;
    if (!registry) return {};
    const registers = [registry];
    const failures = new Counter({ name: 'meshbus_kubernetes_watch_failures_total', help: 'Lists and watches of the Kubernetes API that failed, by resource.', labelNames: ['resource'], registers });
    const synced = new Gauge({ name: 'meshbus_kubernetes_informer_synced', help: '1 once a watched Kubernetes resource has been read in full.', labelNames: ['resource'], registers });
    const missing = new Counter({ name: 'meshbus_kubernetes_resource_missing_total', help: 'Times a watched Kubernetes resource was found not served (404).', labelNames: ['resource'], registers });
    for (const resource of this.#options.resources) synced.set({ resource: resourceLabel(resource) }, 0);
    return {
      failed: (resource) => failures.inc({ resource }),
      missing: (resource) => missing.inc({ resource }),
      synced: (resource, value) => synced.set({ resource }, value ? 1 : 0),
    };
  }
}

function resourceLabel(resource: KubeResource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

function sameResource(a: KubeResource, b: KubeResource): boolean {
  return a.group === b.group && a.plural === b.plural;
}

/** The object as a manifest: apiVersion and kind (lists leave them out), metadata without managedFields, no status. */
function documentOf(resource: KubeResource, object: KubeObject): Record<string, unknown> {
  const { status: _status, metadata, ...rest } = object;
  const { managedFields: _managedFields, ...meta } = metadata;
  return { ...rest, apiVersion: apiVersionOf(resource), kind: resource.kind, metadata: meta };
}

/** The decoder's reading of one object, as the content of a manifest file of its own. */
function decoded(file: string, document: Record<string, unknown>, adjust?: (resource: Record<string, unknown>) => Record<string, unknown>): ParsedManifestChange {
  const result = decodeDocument(document);
  if (!result.ok || !adjust) return { file, parsed: { documents: [result] } };
  const resource = adjust(result.resource as unknown as Record<string, unknown>) as unknown as typeof result.resource;
  return { file, parsed: { documents: [{ ...result, resource, fingerprint: canonicalJson(resource) }] } };
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
