import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** One request to the Kubernetes API server. */
export interface KubeRequest {
  readonly method: 'GET' | 'POST';
  /** Absolute path with query, e.g. `/api/v1/namespaces/meshbus`. */
  readonly path: string;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Ends the request (the per-check timeout). */
  readonly signal: AbortSignal;
}

/** The API server's answer: status and body text, whatever the status. */
export interface KubeResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * The seam between the checks and the cluster: raw requests to the API
 * server, authenticated as the kubeconfig says. Object reads, access reviews
 * and service-proxy requests all go through it.
 */
export interface KubeHttp {
  /** The API server's URL, for messages. */
  readonly server: string;
  request(request: KubeRequest): Promise<KubeResponse>;
}

/** Bodies larger than this are refused: a check reads objects, not logs. */
const maxBody = 16 * 1024 * 1024;

/**
 * A {@link KubeHttp} for the kubeconfig's current context: its server, TLS
 * settings, proxy and credentials (token, client certificate, exec plugins),
 * as `@kubernetes/client-node` applies them.
 */
export function kubeHttpFor(kubeConfig: KubeConfig): KubeHttp {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster; pass --context or set current-context');
  const server = cluster.server.replace(/\/+$/, '');
  const base = new URL(server);
  const send = base.protocol === 'http:' ? httpRequest : httpsRequest;
  return {
    server,
    async request({ method, path, body, signal }) {
      const options: RequestOptions & Record<string, unknown> = { headers: {} };
      await kubeConfig.applyToHTTPSOptions(options);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const url = new URL(`${base.pathname.replace(/\/$/, '')}${path}`, base);
      return await new Promise<KubeResponse>((resolve, reject) => {
        const req = send(
          url,
          {
            ...options,
            method,
            signal,
            headers: {
              ...(options.headers as Record<string, string>),
              accept: 'application/json',
              ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > maxBody) req.destroy(new Error(`the answer to ${method} ${path} is larger than ${maxBody} bytes`));
              else chunks.push(chunk);
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', (error) => reject(signal.aborted ? new Error(`${method} ${path}: no answer in time`) : error));
        req.end(text);
      });
    },
  };
}
