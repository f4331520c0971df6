import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { MeshbusError } from '@meshbus/core';
import type { KubeObject } from './kube-object.js';

/** The API server answered a request with an error status (or could not be asked). */
export class KubeRequestError extends MeshbusError {
  override name = 'KubeRequestError';
  /** The HTTP status; 0 when no answer came. */
  readonly statusCode: number;
  constructor(statusCode: number, message: string, options?: { cause?: unknown }) {
    super('KubeRequestFailed', message, options);
    this.statusCode = statusCode;
  }
}

/** One page of a list. */
interface ListPage {
  items?: KubeObject[] | null;
  metadata?: { resourceVersion?: string; continue?: string };
}

/** Objects per page of a list. */
const pageSize = 500;

/**
 * Lists a collection in pages, with the kubeconfig's server, credentials and
 * TLS settings. The result's resourceVersion is the snapshot's, for a watch
 * to resume from.
 */
export async function listCollection(kubeConfig: KubeConfig, path: string, timeoutMs = 60_000): Promise<{ items: KubeObject[]; metadata: { resourceVersion: string } }> {
  const items: KubeObject[] = [];
  let token: string | undefined;
  let resourceVersion = '';
  do {
    const query = new URLSearchParams({ limit: String(pageSize) });
    if (token) query.set('continue', token);
    const page = (await getJson(kubeConfig, `${path}?${query}`, timeoutMs)) as ListPage;
    for (const item of page.items ?? []) items.push(item);
    resourceVersion = page.metadata?.resourceVersion ?? '';
    token = page.metadata?.continue || undefined;
  } while (token);
  return { items, metadata: { resourceVersion } };
}

async function getJson(kubeConfig: KubeConfig, path: string, timeoutMs: number): Promise<unknown> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new KubeRequestError(0, 'the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const options: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, method: 'GET', headers: { ...options.headers, accept: 'application/json' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => reject(new KubeRequestError(0, `GET ${url.pathname}: ${err.message}`, { cause: err })));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        if (status !== 200) {
          const message = (body as { message?: unknown } | undefined)?.message;
          reject(new KubeRequestError(status, `GET ${url.pathname} answered ${status}${typeof message === 'string' ? `: ${message}` : ''}`));
          return;
        }
        if (body === undefined) reject(new KubeRequestError(status, `GET ${url.pathname} answered with a body that is not JSON`));
        else resolve(body);
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (err) => reject(new KubeRequestError(0, `GET ${url.pathname}: ${err.message}`, { cause: err })));
    req.end();
  });
}

/** The HTTP status of an error from a list or a watch, when it has one. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}
