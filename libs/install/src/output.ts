/* Printing rendered objects for `kubectl apply -f -` and `kubectl delete -f -`. */
import { stringify } from 'yaml';
import type { KubeObject } from './objects.js';

export type OutputFormat = 'yaml' | 'json';

/** Multi-document YAML (`---` between objects), or one JSON `List`. */
export function formatObjects(objects: readonly KubeObject[], format: OutputFormat): string {
  if (format === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
}

/**
 * What removes an installation, in delete order: the webhook configuration
 * first (no pod creation calls a departing injector), then the namespaced
 * objects and the namespace, the cluster-wide RBAC, and the
 * CustomResourceDefinitions last (deleting them deletes every resource of
 * their kinds). Each object is reduced to what names it.
 */
export function uninstallObjects(installed: readonly KubeObject[]): KubeObject[] {
  const rank = (o: KubeObject) => (o.kind === 'MutatingWebhookConfiguration' ? 0 : o.kind === 'CustomResourceDefinition' ? 4 : o.kind === 'Namespace' ? 2 : o.metadata.namespace === undefined ? 3 : 1);
  return installed
    .map((o, index) => ({ o, index }))
    .sort((a, b) => rank(a.o) - rank(b.o) || b.index - a.index)
    .map(({ o }) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name: o.metadata.name, ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}) },
    }));
}
