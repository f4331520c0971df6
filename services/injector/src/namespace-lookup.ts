import { loadManifestFolder } from '@meshbus/manifests';
import type { NamespaceLookup } from './admission.js';
import type { NamespaceInfo } from './k8s-types.js';

/**
 * Namespaces from the manifests folder (local mode). The first lookup waits for the folder to be
 * read; later ones answer from the last reading at once, and a reading older than `maxAgeMs`
 * starts a new one in the background, so an annotation added to a Namespace manifest applies
 * soon without an admission ever waiting for the folder again.
 */
export class FolderNamespaceLookup implements NamespaceLookup {
  private cache: { at: number; namespaces: Map<string, NamespaceInfo> } | undefined;
  private loading: Promise<Map<string, NamespaceInfo>> | undefined;

  constructor(
    private readonly directory: string,
    private readonly maxAgeMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the folder now, so that the first admission does not wait for it. */
  async start(): Promise<void> {
    await this.load();
  }

  async get(name: string): Promise<NamespaceInfo | undefined> {
    const cache = this.cache;
    if (cache === undefined) return (await this.load()).get(name);
    if (this.now() - cache.at >= this.maxAgeMs) void this.load().catch(() => undefined);
    return cache.namespaces.get(name);
  }

  private load(): Promise<Map<string, NamespaceInfo>> {
    this.loading ??= loadManifestFolder(this.directory)
      .then((snapshot) => {
        const namespaces = new Map<string, NamespaceInfo>(snapshot.resources.namespaces.map((ns) => [ns.name, { name: ns.name, annotations: { ...ns.annotations } }]));
        this.cache = { at: this.now(), namespaces };
        return namespaces;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}
