/** A Kubernetes object as stored by the fake Kubernetes API server: anything with `apiVersion`, `kind` and `metadata.name`. */
export interface FakeKubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}
