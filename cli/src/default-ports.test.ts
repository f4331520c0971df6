import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envToConfig as destinationConfig } from '@meshbus/destination';
import { envToConfig as gatewayConfig } from '@meshbus/gateway';
import { envToConfig as identityConfig } from '@meshbus/identity';
import { envToConfig as injectorConfig } from '@meshbus/injector';
import { adminPorts, gatewayGrpcPort, injectorWebhookPort, multiclusterAdminPort, multiclusterGatewayAdminPort, multiclusterGatewayPort } from '@meshbus/install';
import { envToConfig as multiclusterConfig } from '@meshbus/multicluster-service';
import { envToConfig as policyConfig } from '@meshbus/policy-service';
import { PROXY_DEFAULTS } from '@meshbus/proxy';

// Every component run unconfigured on one host (`meshbus serve <component>`, `meshbus proxy`):
// no two of them may listen on the same port.

let dir: string;
/** The least environment every component's configuration accepts (the injector reads its trust anchors file; the others only name files). */
let minimal: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbus-default-ports-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-subj', '/CN=anchors', '-days', '2', '-out', 'cert.pem'], { cwd: dir, stdio: 'ignore' });
  minimal = {
    MESHBUS_MANIFESTS_DIR: dir,
    MESHBUS_IDENTITY_DIR: dir,
    MESHBUS_CLUSTER_NAME: 'west',
    MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'token.pub'),
    MESHBUS_INJECTOR_TLS_CERT: join(dir, 'cert.pem'),
    MESHBUS_INJECTOR_TLS_KEY: join(dir, 'key.pem'),
    MESHBUS_INJECTOR_TRUST_ANCHORS: join(dir, 'cert.pem'),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each component's default listeners, as its own configuration code makes them. */
function defaultListeners(): Record<string, number> {
  const destination = destinationConfig(minimal);
  const gateway = gatewayConfig(minimal);
  const identity = identityConfig(minimal);
  const injector = injectorConfig(minimal);
  const multicluster = multiclusterConfig(minimal);
  const policy = policyConfig(minimal);
  return {
    'destination admin': destination.admin.port,
    'gateway admin': gateway.admin.port,
    'gateway gRPC': gateway.grpc.port,
    'identity admin': identity.admin.port,
    'injector admin': injector.admin.port,
    'injector webhook': injector.webhook.port,
    'multicluster admin': multicluster.admin.port,
    'policy admin': policy.admin.port,
    'proxy outbound': PROXY_DEFAULTS.outboundPort,
    'proxy inbound': PROXY_DEFAULTS.inboundPort,
    'proxy admin': PROXY_DEFAULTS.adminPort,
    'proxy gateway': PROXY_DEFAULTS.gatewayPort,
  };
}

describe('default ports', () => {
  it('no two components, nor two listeners of one, share a default port', () => {
    const byPort = new Map<number, string[]>();
    for (const [listener, port] of Object.entries(defaultListeners())) byPort.set(port, [...(byPort.get(port) ?? []), listener]);
    const shared = [...byPort].filter(([, listeners]) => listeners.length > 1).map(([port, listeners]) => `${port}: ${listeners.join(', ')}`);
    expect(shared).toEqual([]);
  });

  it('are the ports the install renders into the Deployments and probes', () => {
    const listeners = defaultListeners();
    expect({
      destination: listeners['destination admin'],
      identity: listeners['identity admin'],
      policy: listeners['policy admin'],
      gateway: listeners['gateway admin'],
      injector: listeners['injector admin'],
    }).toEqual(adminPorts);
    expect(listeners['multicluster admin']).toBe(multiclusterAdminPort);
    expect(listeners['gateway gRPC']).toBe(gatewayGrpcPort);
    expect(listeners['injector webhook']).toBe(injectorWebhookPort);
    expect([listeners['proxy gateway'], listeners['proxy admin']]).toEqual([multiclusterGatewayPort, multiclusterGatewayAdminPort]);
  });
});
