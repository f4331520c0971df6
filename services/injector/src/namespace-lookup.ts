import { loadManifestFolder } from '@meshbus/manifests';
import type { NamespaceLookup } from './admission.js';
import type { NamespaceInfo } from './k8s-types.js';

/**
 * Namespaces from the manifests folder (local mode). The folder is read again when the last
 * reading is older than `maxAgeMs`, so an annotation added to a Namespace manifest applies soon.
 */
export class FolderNamespaceLookup implements NamespaceLookup {
  private cache: { at: number; namespaces: Map<string, NamespaceInfo> } | undefined;
  private loading: Promise<Map<string, NamespaceInfo>> | undefined;

  constructor(
    private readonly directory: string,
    private readonly maxAgeMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(name: string): Promise<NamespaceInfo | undefined> {
    return (await this.namespaces()).get(name);
  }

  private async namespaces(): Promise<Map<string, NamespaceInfo>> {
    if (this.cache && this.now() - this.cache.at < this.maxAgeMs) return this.cache.namespaces;
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
