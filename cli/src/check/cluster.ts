import { MeshbusError } from '@meshbus/runtime';
import type { KubeHttp, KubeResponse } from './kube-http.js';

/** The API server answered a request with an error status. */
export class KubeApiError extends MeshbusError {
  override name = 'KubeApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    detail: string,
  ) {
    super('KubeApiFailed', `${method} ${path}: ${describeStatus(status)}${detail ? `: ${detail}` : ''}`);
  }
}

function describeStatus(status: number): string {
  if (status === 401) return 'the API server refused the credentials (401 Unauthorized)';
  if (status === 403) return 'not allowed (403 Forbidden)';
  return `HTTP ${status}`;
}

/** The `message` of a Kubernetes Status body, or the start of the body. */
export function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not JSON: show the text itself
  }
  return body.length > 200 ? `${body.slice(0, 200)}…` : body;
}

/** The parts of object metadata the checks read. */
export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  readonly metadata?: ObjectMeta;
  readonly [field: string]: unknown;
}

/**
 * Reads the cluster through {@link KubeHttp}: GETs as JSON, a missing object
 * as undefined. Reads are shared between the checks of one run (several
 * checks look at the same Secret), a failed read is not kept.
 */
export class ClusterReader {
  private readonly reads = new Map<string, Promise<unknown>>();

  constructor(readonly http: KubeHttp) {}

  /** The object at `path`, or undefined when the API server answers 404. */
  get<T = KubeObject>(path: string, signal: AbortSignal): Promise<T | undefined> {
    let read = this.reads.get(path);
    if (!read) {
      read = this.http.request({ method: 'GET', path, signal }).then((res) => {
        if (res.status === 404) return undefined;
        return parseAnswer('GET', path, res);
      });
      read.catch(() => this.reads.delete(path));
      this.reads.set(path, read);
    }
    return read as Promise<T | undefined>;
  }

  /** The items of the list at `path` (a missing collection is an error, not an empty list). */
  async list<T = KubeObject>(path: string, signal: AbortSignal): Promise<T[]> {
    const list = await this.get<{ items?: T[] }>(path, signal);
    if (list === undefined) throw new KubeApiError('GET', path, 404, 'the API server does not serve this collection');
    return list.items ?? [];
  }

  /** POSTs JSON and returns the parsed answer of a 2xx status; anything else is a {@link KubeApiError}. */
  async post<T>(path: string, body: unknown, signal: AbortSignal): Promise<T> {
    return parseAnswer('POST', path, await this.http.request({ method: 'POST', path, body, signal })) as T;
  }
}

function parseAnswer(method: string, path: string, res: KubeResponse): unknown {
  if (res.status < 200 || res.status > 299) throw new KubeApiError(method, path, res.status, statusMessage(res.body));
  try {
    return JSON.parse(res.body) as unknown;
  } catch {
    throw new KubeApiError(method, path, res.status, 'the answer is not JSON');
  }
}

/** `/api/v1/namespaces/<ns>/<plural>[/<name>]` or the `/apis/<group>/<version>/…` equivalent. */
export function objectPath(apiVersion: string, plural: string, ref: { namespace?: string; name?: string } = {}): string {
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = ref.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === undefined ? '' : `/${encodeURIComponent(ref.name)}`;
  return `${prefix}${ns}/${plural}${name}`;
}

/** A label selector query string: `?labelSelector=a%3Db,c%3Dd`. */
export function withLabels(path: string, labels: Readonly<Record<string, string>>): string {
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${path}?labelSelector=${encodeURIComponent(selector)}`;
}

/** The API server's service proxy path: `/api/v1/namespaces/<ns>/services/<scheme>:<name>:<port>/proxy<path>`. */
export function serviceProxyPath(service: { namespace: string; name: string; port: number; scheme: 'http' | 'https' }, path: string): string {
  const rest = path.startsWith('/') ? path : `/${path}`;
  return `/api/v1/namespaces/${encodeURIComponent(service.namespace)}/services/${service.scheme}:${encodeURIComponent(service.name)}:${service.port}/proxy${rest}`;
}
