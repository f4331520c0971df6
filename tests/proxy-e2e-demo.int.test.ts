import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '@meshbus/proxy';
import { freePort, httpGet, startProcess, waitFor, type RunningProcess } from '@meshbus/testing';
import { meshIdentity, repoRoot, startMesh, startMeshProxy, viaProxy, type Mesh } from './harness.js';
import { metricSum } from './process-harness.js';

// The demo of examples/demo as its README runs it: web → api → store, each
// program (a child process) behind its own proxy, with the demo's manifests
// and policy on the real control plane. The workloads are declared here as
// Workload manifests, where the README registers them with `meshbus run`.

const ns = 'demo';
const programs = ['web', 'api', 'store'] as const;
type Program = (typeof programs)[number];
const hosts: Record<Program, string> = { web: '127.0.0.101', api: '127.0.0.102', store: '127.0.0.103' };
const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });

describe('the demo application on the mesh', () => {
  let mesh: Mesh;
  let dir: string;
  let appPort: number;
  let inboundPort: number;
  const proxies = new Map<Program, Proxy>();
  const running: RunningProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-demo-'));
    const identityDir = join(dir, 'identity');
    cli(['identity', 'init', '--dir', identityDir]);
    appPort = await freePort();
    inboundPort = await freePort();
    const manifestsDir = join(dir, 'manifests');
    await cp(join(repoRoot, 'examples/demo/manifests'), manifestsDir, { recursive: true });
    await writeFile(
      join(manifestsDir, 'workloads.yaml'),
      programs
        .map((p) => `apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: {name: ${p}-1, namespace: ${ns}, labels: {app: ${p}}}\nspec:\n  address: ${hosts[p]}\n  ports: [{name: http, port: ${appPort}}]\n  serviceAccount: ${p}\n`)
        .join('---\n'),
    );
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: manifestsDir, identityDir });
    const gateways = [`127.0.0.1:${mesh.gateway.grpcPort}`];
    for (const p of programs) {
      const proxy = await startMeshProxy({ gateways, namespace: ns, name: `${p}-1`, serviceAccount: p, identityDir, address: hosts[p], inboundPort, ports: [appPort] });
      proxies.set(p, proxy);
      // As `meshbus run` starts it: HTTP_PROXY is the proxy's outbound listener.
      running.push(
        startProcess({
          command: process.execPath,
          args: [join(repoRoot, 'examples/demo', `${p}.mjs`), '--listen', `${hosts[p]}:${appPort}`, '--name', `${p}-1`],
          env: { PATH: process.env.PATH, HTTP_PROXY: `http://127.0.0.1:${proxy.ports.outbound}` },
        }),
      );
    }
    for (const p of programs) await waitFor(async () => (await httpGet(`http://${hosts[p]}:${appPort}/healthz`)).status === 200, { what: `${p} listening`, timeoutMs: 15_000 });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop(3000)));
    await Promise.all([...proxies.values()].map((p) => p.stop()));
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers a call to web through web → api → store, each hop over mesh TLS with the caller\'s identity', async () => {
    // From outside the mesh, to web's proxy: its policy admits this machine.
    let answer: { status: number; body: string } | undefined;
    await waitFor(async () => (answer = await httpGet(`http://${hosts.web}:${inboundPort}/items`)).status === 200, { what: 'the chain answers', timeoutMs: 15_000 });
    expect(answer!.body.split('\n')).toEqual([
      'web-1 (web) answered GET /items; caller: no mesh identity',
      `  api-1 (api) answered GET /items; caller: ${meshIdentity(ns, 'web')}`,
      `    store-1 (store) answered GET /items; caller: ${meshIdentity(ns, 'api')}`,
      '      items: apples, pears, plums',
      '',
    ]);
    const web = await httpGet(`${proxies.get('web')!.adminUrl}/metrics`);
    expect(metricSum(web.body, 'response_total', { direction: 'outbound', authority: 'api.demo.svc.cluster.local:80', tls: 'true', server_id: meshIdentity(ns, 'api'), status_code: '200' })).toBeGreaterThanOrEqual(1);
    const api = await httpGet(`${proxies.get('api')!.adminUrl}/metrics`);
    expect(metricSum(api.body, 'response_total', { direction: 'inbound', tls: 'true', client_id: meshIdentity(ns, 'web'), srv_name: 'api-http', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(running.map((r) => r.output()).join('')).toContain(`store-1: GET /items from ${meshIdentity(ns, 'api')} -> 200`);
  });

  it('keeps to the policy: web may not call store, and api refuses callers outside the mesh', async () => {
    const web = proxies.get('web')!;
    const direct = await viaProxy(web.ports.outbound, 'http://store.demo/items');
    expect(direct.status).toBe(403);
    expect(direct.headers['l5d-proxy-error']).toContain(`identity ${meshIdentity(ns, 'web')}`);
    expect((await httpGet(`http://${hosts.api}:${inboundPort}/items`)).status).toBe(403);
    const store = await httpGet(`${proxies.get('store')!.adminUrl}/metrics`);
    expect(metricSum(store.body, 'inbound_http_authz_deny_total', { client_id: meshIdentity(ns, 'web'), srv_name: 'store-http' })).toBe(1);
  });
});
