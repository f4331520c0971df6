import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeHttpFor } from './kube-http.js';
import { anchor, servingCertificate } from './test-installation.js';

/** An HTTPS "API server" on localhost that echoes what it was sent. */
async function startEchoServer() {
  const ca = anchor('kube-ca');
  const serving = servingCertificate(ca, 'localhost');
  const server = createServer({ cert: serving.certificatePem, key: serving.privateKeyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    server: `https://localhost:${(server.address() as AddressInfo).port}`,
    caPem: ca.certificatePem,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function kubeConfig(server: string, caPem: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, caData: Buffer.from(caPem).toString('base64') }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('kubeHttpFor', () => {
  it("talks TLS to the kubeconfig's server, checked against its CA, with its credentials", async () => {
    await using api = await startEchoServer();
    const http = kubeHttpFor(kubeConfig(api.server, api.caPem));
    const signal = AbortSignal.timeout(5000);
    const post = await http.request({ method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: { spec: {} }, signal });
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body)).toEqual({ method: 'POST', url: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', authorization: 'Bearer secret-token', body: '{"spec":{}}' });
    expect((await http.request({ method: 'GET', path: '/missing', signal })).status).toBe(404);
  });

  it('refuses a server whose certificate the kubeconfig CA did not sign', async () => {
    await using api = await startEchoServer();
    const http = kubeHttpFor(kubeConfig(api.server, anchor('other-ca').certificatePem));
    await expect(http.request({ method: 'GET', path: '/version', signal: AbortSignal.timeout(5000) })).rejects.toThrow(/self[- ]signed|unable to verify|unable to get local issuer/);
  });
});
