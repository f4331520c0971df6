/** An object as the API server sends it (JSON), before meshbus reads it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** `<namespace>/<name>`, or `<name>` for a cluster-scoped object. */
export function objectKey(object: KubeObject): string {
  const namespace = object.metadata.namespace;
  return namespace ? `${namespace}/${object.metadata.name ?? ''}` : (object.metadata.name ?? '');
}
