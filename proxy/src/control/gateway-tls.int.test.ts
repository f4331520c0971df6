import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@meshbus/testing';
import { startMesh, type Mesh } from '../../../tests/harness.js';
import { proxyConfigFromEnv } from './config.js';
import { controlClientFromConfig } from './control-client.js';

describe('the gateway connection over TLS, from the proxy configuration', () => {
  let mesh: Mesh;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-tls-'));
    // The gateway's certificate names only a DNS name, so the connection by IP needs the TLS name.
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca']);
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'gw.key', '-out', 'gw.csr', '-subj', '/CN=gateway']);
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:gateway.meshbus.test\n');
    run(['x509', '-req', '-in', 'gw.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'gw.crt', '-days', '1', '-extfile', 'ext.cnf']);
    mesh = await startMesh({ destination: true, gateway: { env: { MESHBUS_TLS_CERT: join(dir, 'gw.crt'), MESHBUS_TLS_KEY: join(dir, 'gw.key') } } });
  }, 60_000);
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (extra: Record<string, string>) =>
    proxyConfigFromEnv({
      MESHBUS_PROXY_GATEWAYS: `127.0.0.1:${mesh.gateway.grpcPort}`,
      MESHBUS_PROXY_NAMESPACE: 'shop',
      MESHBUS_PROXY_WORKLOAD_NAME: 'web-1',
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'web',
      MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'ca.crt'),
      MESHBUS_PROXY_IDENTITY_TOKEN: 'unused',
      MESHBUS_PROXY_GATEWAY_CA: join(dir, 'ca.crt'),
      ...extra,
    });

  it('watches through a gateway that the CA and the TLS name verify', async () => {
    const control = controlClientFromConfig(config({ MESHBUS_PROXY_GATEWAY_TLS_NAME: 'gateway.meshbus.test' }));
    try {
      const state = await control.destination('api.shop.svc.cluster.local:8080').first();
      expect(state.endpoints.size).toBe(2);
    } finally {
      await control.close();
    }
  });

  it('verifies the gateway against a CA given as PEM in the environment, as injected pods have it', async () => {
    const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
    const control = controlClientFromConfig(
      config({ MESHBUS_PROXY_GATEWAY_CA: '', MESHBUS_PROXY_GATEWAY_CA_PEM: ca, MESHBUS_PROXY_TRUST_ANCHORS: '', MESHBUS_PROXY_TRUST_ANCHORS_PEM: ca, MESHBUS_PROXY_GATEWAY_TLS_NAME: 'gateway.meshbus.test' }),
    );
    try {
      const state = await control.destination('api.shop.svc.cluster.local:8080').first();
      expect(state.endpoints.size).toBe(2);
    } finally {
      await control.close();
    }
  });

  it('gets nothing from a gateway whose certificate does not name the TLS name, nor over plaintext', async () => {
    const cases: Record<string, string>[] = [{ MESHBUS_PROXY_GATEWAY_TLS_NAME: 'other.meshbus.test' }, { MESHBUS_PROXY_GATEWAY_CA: '', MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true' }];
    for (const extra of cases) {
      const control = controlClientFromConfig(config(extra), { backoff: { initialMs: 20, maxMs: 50 } });
      try {
        const watch = control.destination('api.shop.svc.cluster.local:8080');
        let failures = 0;
        watch.on('disconnected', () => failures++);
        await waitFor(() => failures >= 2, { what: 'refused streams', timeoutMs: 10_000 });
        expect(watch.current).toBeUndefined();
      } finally {
        await control.close();
      }
    }
  });

  it('names the variable when the CA file cannot be read', () => {
    expect(() => controlClientFromConfig(config({ MESHBUS_PROXY_GATEWAY_CA: join(dir, 'missing.crt') }))).toThrow(/^MESHBUS_PROXY_GATEWAY_CA .*missing\.crt cannot be read/);
  });
});
