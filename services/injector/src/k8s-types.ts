/**
 * The parts of Kubernetes objects the injector reads and writes. Objects are
 * kept as they came (unknown fields included); these types name only what the
 * transformation touches.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface ContainerPort {
  containerPort: number;
  protocol?: string;
  name?: string;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; [key: string]: unknown }>;
  serviceAccountName?: string;
  hostNetwork?: boolean;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

/** The namespace a pod is created in, as far as injection cares. */
export interface NamespaceInfo {
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** One operation of an RFC 6902 JSON Patch; the injector only adds. */
export interface PatchOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}
