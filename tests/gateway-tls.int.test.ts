import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destination } from '@meshbus/proxy-api';
import { waitFor } from '@meshbus/testing';
import type { Gateway } from '@meshbus/gateway';
import { EndpointWatcher, startMesh, type Mesh } from './harness.js';

describe('gateway over TLS', () => {
  let mesh: Mesh;
  let gw: Gateway;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-tls-'));
    // A P-256 CA and a server certificate for 127.0.0.1 / localhost, made by openssl.
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca']);
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'gw.key', '-out', 'gw.csr', '-subj', '/CN=gateway']);
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:gateway,IP:127.0.0.1\n');
    run(['x509', '-req', '-in', 'gw.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'gw.crt', '-days', '1', '-extfile', 'ext.cnf']);
    mesh = await startMesh({ gateway: { env: { MESHBUS_TLS_CERT: join(dir, 'gw.crt'), MESHBUS_TLS_KEY: join(dir, 'gw.key') } } });
    gw = mesh.gateway;
  }, 60_000);
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves watch streams to clients that trust its CA, and nothing in plain text', async () => {
    const ca = await readFile(join(dir, 'ca.crt'));
    const tls = new destination.DestinationClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(ca), {
      'grpc.ssl_target_name_override': 'gateway',
      'grpc.default_authority': 'gateway',
    });
    const w = new EndpointWatcher(tls, 'web.shop.svc.cluster.local:80');
    await waitFor(() => w.exists === false, { what: 'no_endpoints over TLS' });
    w.cancel();
    tls.close();

    const plain = new destination.DestinationClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
    const p = new EndpointWatcher(plain, 'web.shop.svc.cluster.local:80');
    await waitFor(() => p.error, { what: 'plaintext refused' });
    expect(p.updates).toEqual([]);
    plain.close();
  });
});
