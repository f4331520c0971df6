import { describe, expect, it } from 'vitest';
import { ConfigError } from '@meshbus/runtime';
import { DEFAULT_TAP_HEADERS } from '../tap/sessions.js';
import { PROXY_DEFAULTS, parsePortMapping, proxyConfigFromEnv } from './config.js';

const base = {
  MESHBUS_PROXY_GATEWAYS: '10.0.0.1:8086, 10.0.0.2:8086',
  MESHBUS_PROXY_NAMESPACE: 'shop',
  MESHBUS_PROXY_WORKLOAD_NAME: 'web-1',
  MESHBUS_PROXY_SERVICE_ACCOUNT: 'web',
  MESHBUS_PROXY_TRUST_ANCHORS: '/var/run/meshbus/ca.crt',
  MESHBUS_PROXY_IDENTITY_TOKEN_FILE: '/var/run/secrets/token',
};

const pem = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';

function fails(env: Record<string, string | undefined>, message: RegExp): void {
  let error: unknown;
  try {
    proxyConfigFromEnv({ ...base, ...env });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toMatch(message);
}

describe('proxyConfigFromEnv', () => {
  it('fills the documented defaults', () => {
    const c = proxyConfigFromEnv(base);
    expect(c.mode).toBe('explicit');
    expect(c.gateways).toEqual(['10.0.0.1:8086', '10.0.0.2:8086']);
    expect(c.gatewayTransport).toEqual({ kind: 'tls', caFile: undefined, serverName: undefined });
    expect(c.workload).toEqual({
      namespace: 'shop',
      name: 'web-1',
      serviceAccount: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      workloadRef: '{"ns":"shop","name":"web-1"}',
    });
    expect(c.listeners).toEqual({
      outbound: { host: '0.0.0.0', port: 4140 },
      inbound: { host: '0.0.0.0', port: 4143 },
      admin: { host: '127.0.0.1', port: 4191 },
    });
    expect(c.token).toEqual({ kind: 'file', path: '/var/run/secrets/token' });
    expect(c.inboundPorts).toEqual([]);
    expect(c.workloadAddress).toBe('127.0.0.1');
    expect(c.portMappings).toEqual([]);
    expect(c.skipPorts).toEqual([]);
    expect(c.clusterDomain).toBe('cluster.local');
    expect(c.log).toEqual({ level: 'info', format: 'json' });
    expect(c.accessLog).toBe('off');
    expect(c.shutdownGraceMs).toBe(PROXY_DEFAULTS.shutdownGraceMs);
    expect(c.streams).toEqual({ idleTimeoutMs: 300_000, maxLifetimeMs: 3_600_000, lifetimeJitter: 0.2, initialTimeoutMs: 3_000 });
  });

  it('reads every setting', () => {
    const c = proxyConfigFromEnv({
      ...base,
      MESHBUS_PROXY_GATEWAY_CA: '/etc/ca.pem',
      MESHBUS_PROXY_GATEWAY_TLS_NAME: 'gateway.meshbus.svc',
      MESHBUS_PROXY_IDENTITY_TOKEN_FILE: undefined,
      MESHBUS_PROXY_IDENTITY_TOKEN: 'abc',
      MESHBUS_PROXY_CLUSTER_DOMAIN: 'example.org',
      MESHBUS_PROXY_OUTBOUND_ADDR: '127.0.0.1:5140',
      MESHBUS_PROXY_INBOUND_ADDR: '5143',
      MESHBUS_PROXY_ADMIN_ADDR: '[::1]:5191',
      MESHBUS_PROXY_INBOUND_PORTS: '8080,9090',
      MESHBUS_PROXY_WORKLOAD_ADDR: '127.0.0.5',
      MESHBUS_PROXY_PORT_MAPPINGS: '7000=api.shop:8080,7001=db.store:5432',
      MESHBUS_PROXY_SKIP_PORTS: '22',
      MESHBUS_PROXY_LOG_LEVEL: 'debug',
      MESHBUS_PROXY_LOG_FORMAT: 'plain',
      MESHBUS_PROXY_ACCESS_LOG: 'json',
      MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '5s',
      MESHBUS_PROXY_STREAM_IDLE_TIMEOUT: '1m',
      MESHBUS_PROXY_STREAM_MAX_LIFETIME: '10m',
      MESHBUS_PROXY_STREAM_LIFETIME_JITTER: '0.5',
      MESHBUS_PROXY_STREAM_INITIAL_TIMEOUT: '500ms',
      MESHBUS_PROXY_TELEMETRY_INTERVAL: '30s',
    });
    expect(c.gatewayTransport).toEqual({ kind: 'tls', caFile: '/etc/ca.pem', serverName: 'gateway.meshbus.svc' });
    expect(c.token).toEqual({ kind: 'env', token: 'abc' });
    expect(c.workload.identity).toBe('web.shop.serviceaccount.identity.meshbus.example.org');
    expect(c.listeners).toEqual({ outbound: { host: '127.0.0.1', port: 5140 }, inbound: { host: '0.0.0.0', port: 5143 }, admin: { host: '::1', port: 5191 } });
    expect(c.inboundPorts).toEqual([8080, 9090]);
    expect(c.workloadAddress).toBe('127.0.0.5');
    expect(c.portMappings).toEqual([
      { localPort: 7000, service: 'api', namespace: 'shop', port: 8080, authority: 'api.shop.svc.example.org:8080' },
      { localPort: 7001, service: 'db', namespace: 'store', port: 5432, authority: 'db.store.svc.example.org:5432' },
    ]);
    expect(c.skipPorts).toEqual([22]);
    expect(c.log).toEqual({ level: 'debug', format: 'plain' });
    expect(c.accessLog).toBe('json');
    expect(c.shutdownGraceMs).toBe(5000);
    expect(c.streams).toEqual({ idleTimeoutMs: 60_000, maxLifetimeMs: 600_000, lifetimeJitter: 0.5, initialTimeoutMs: 500 });
    expect(c.telemetryIntervalMs).toBe(30_000);
    expect(proxyConfigFromEnv(base).telemetryIntervalMs).toBe(10_000);
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TELEMETRY_INTERVAL: '0s' }).telemetryIntervalMs).toBe(0);
  });

  it('reads the trust anchors from a file or from the PEM itself, and the gateway CA likewise', () => {
    expect(proxyConfigFromEnv(base).trustAnchors).toEqual({ kind: 'file', path: '/var/run/meshbus/ca.crt' });
    const inEnv = proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TRUST_ANCHORS: undefined, MESHBUS_PROXY_TRUST_ANCHORS_PEM: pem, MESHBUS_PROXY_GATEWAY_CA_PEM: pem });
    expect(inEnv.trustAnchors).toEqual({ kind: 'pem', pem });
    expect(inEnv.gatewayTransport).toEqual({ kind: 'tls', caFile: undefined, caPem: pem, serverName: undefined });
  });

  it('reads plaintext for local development', () => {
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true' }).gatewayTransport).toEqual({ kind: 'plaintext' });
  });

  it.each([
    [{ MESHBUS_PROXY_GATEWAYS: undefined }, /^MESHBUS_PROXY_GATEWAYS is required/],
    [{ MESHBUS_PROXY_GATEWAYS: 'gateway' }, /^MESHBUS_PROXY_GATEWAYS: "gateway" is not host:port/],
    [{ MESHBUS_PROXY_GATEWAYS: 'gw:99999' }, /^MESHBUS_PROXY_GATEWAYS must be host:port/],
    [{ MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'yes' }, /^MESHBUS_PROXY_GATEWAY_PLAINTEXT must be true or false/],
    [{ MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true', MESHBUS_PROXY_GATEWAY_CA: '/ca' }, /^MESHBUS_PROXY_GATEWAY_PLAINTEXT=true cannot go with MESHBUS_PROXY_GATEWAY_CA/],
    [{ MESHBUS_PROXY_GATEWAY_TLS_NAME: 'Not A Name' }, /^MESHBUS_PROXY_GATEWAY_TLS_NAME:/],
    [{ MESHBUS_PROXY_CLUSTER_DOMAIN: 'bad_domain' }, /^MESHBUS_PROXY_CLUSTER_DOMAIN:/],
    [{ MESHBUS_PROXY_CONTROL_NAMESPACE: 'a.b' }, /^MESHBUS_PROXY_CONTROL_NAMESPACE:/],
    [{ MESHBUS_PROXY_NAMESPACE: undefined }, /^MESHBUS_PROXY_NAMESPACE is required/],
    [{ MESHBUS_PROXY_NAMESPACE: 'Shop' }, /^MESHBUS_PROXY_NAMESPACE: "Shop" is not a DNS label/],
    [{ MESHBUS_PROXY_WORKLOAD_NAME: undefined }, /^MESHBUS_PROXY_WORKLOAD_NAME is required/],
    [{ MESHBUS_PROXY_WORKLOAD_NAME: 'web_1' }, /^MESHBUS_PROXY_WORKLOAD_NAME: "web_1" is not a DNS name/],
    [{ MESHBUS_PROXY_SERVICE_ACCOUNT: undefined }, /^MESHBUS_PROXY_SERVICE_ACCOUNT is required/],
    [{ MESHBUS_PROXY_SERVICE_ACCOUNT: 'web.x' }, /^MESHBUS_PROXY_SERVICE_ACCOUNT: "web.x" is not a DNS label/],
    [{ MESHBUS_PROXY_TRUST_ANCHORS: undefined }, /^MESHBUS_PROXY_TRUST_ANCHORS \(the PEM file of the trust anchors, ca.crt\) or MESHBUS_PROXY_TRUST_ANCHORS_PEM \(the PEM itself\) is required/],
    [{ MESHBUS_PROXY_TRUST_ANCHORS_PEM: pem }, /^MESHBUS_PROXY_TRUST_ANCHORS and MESHBUS_PROXY_TRUST_ANCHORS_PEM are both set; give one/],
    [{ MESHBUS_PROXY_TRUST_ANCHORS: undefined, MESHBUS_PROXY_TRUST_ANCHORS_PEM: '/var/run/meshbus/ca.crt' }, /^MESHBUS_PROXY_TRUST_ANCHORS_PEM holds no PEM certificate/],
    [{ MESHBUS_PROXY_GATEWAY_CA: '/ca', MESHBUS_PROXY_GATEWAY_CA_PEM: pem }, /^MESHBUS_PROXY_GATEWAY_CA and MESHBUS_PROXY_GATEWAY_CA_PEM are both set; give one/],
    [{ MESHBUS_PROXY_GATEWAY_CA_PEM: 'not a pem' }, /^MESHBUS_PROXY_GATEWAY_CA_PEM holds no PEM certificate/],
    [{ MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true', MESHBUS_PROXY_GATEWAY_CA_PEM: pem }, /^MESHBUS_PROXY_GATEWAY_PLAINTEXT=true cannot go with MESHBUS_PROXY_GATEWAY_CA_PEM/],
    [{ MESHBUS_PROXY_IDENTITY_TOKEN_FILE: undefined }, /^MESHBUS_PROXY_IDENTITY_TOKEN_FILE \(or MESHBUS_PROXY_IDENTITY_TOKEN\) is required/],
    [{ MESHBUS_PROXY_IDENTITY_TOKEN: 'x' }, /^MESHBUS_PROXY_IDENTITY_TOKEN_FILE and MESHBUS_PROXY_IDENTITY_TOKEN are both set/],
    [{ MESHBUS_PROXY_OUTBOUND_ADDR: '70000' }, /^MESHBUS_PROXY_OUTBOUND_ADDR: "70000" is not a port/],
    [{ MESHBUS_PROXY_INBOUND_ADDR: 'nowhere' }, /^MESHBUS_PROXY_INBOUND_ADDR must be host:port/],
    [{ MESHBUS_PROXY_ADMIN_ADDR: '4140' }, /^MESHBUS_PROXY_ADMIN_ADDR: port 4140 is also the outbound listener's/],
    [{ MESHBUS_PROXY_INBOUND_PORTS: '8080,http' }, /^MESHBUS_PROXY_INBOUND_PORTS: "http" is not a port/],
    [{ MESHBUS_PROXY_INBOUND_PORTS: '8080,8080' }, /^MESHBUS_PROXY_INBOUND_PORTS: port 8080 is listed twice/],
    [{ MESHBUS_PROXY_WORKLOAD_ADDR: 'localhost' }, /^MESHBUS_PROXY_WORKLOAD_ADDR: "localhost" is not an IP address/],
    [{ MESHBUS_PROXY_PORT_MAPPINGS: '7000=api:8080' }, /^MESHBUS_PROXY_PORT_MAPPINGS: "7000=api:8080" is not <localPort>=<service>.<namespace>:<port>/],
    [{ MESHBUS_PROXY_PORT_MAPPINGS: '0=api.shop:8080' }, /^MESHBUS_PROXY_PORT_MAPPINGS \(0=api.shop:8080\): "0" is not a port/],
    [{ MESHBUS_PROXY_PORT_MAPPINGS: '7000=api.shop:8080,7000=db.shop:1' }, /^MESHBUS_PROXY_PORT_MAPPINGS: local port 7000 is mapped twice/],
    [{ MESHBUS_PROXY_PORT_MAPPINGS: '4143=api.shop:8080' }, /^MESHBUS_PROXY_PORT_MAPPINGS: local port 4143 is the inbound listener's/],
    [{ MESHBUS_PROXY_SKIP_PORTS: '-1' }, /^MESHBUS_PROXY_SKIP_PORTS: "-1" is not a port/],
    [{ MESHBUS_PROXY_MODE: 'Transparent' }, /^MESHBUS_PROXY_MODE must be one of explicit, transparent, ingress, gateway, got "Transparent"/],
    [{ MESHBUS_PROXY_MODE: 'sidecar' }, /^MESHBUS_PROXY_MODE must be one of explicit, transparent, ingress, gateway, got "sidecar"/],
    [{ MESHBUS_PROXY_GATEWAY_ADDR: '0.0.0.0:4180' }, /^MESHBUS_PROXY_GATEWAY_ADDR is for MESHBUS_PROXY_MODE=gateway only \(the mode is explicit\)/],
    [{ MESHBUS_PROXY_MODE: 'transparent', MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: '*.shop.example.org' }, /^MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES is for MESHBUS_PROXY_MODE=gateway only/],
    [{ MESHBUS_PROXY_MODE: 'gateway', MESHBUS_PROXY_GATEWAY_ADDR: '4191' }, /^MESHBUS_PROXY_GATEWAY_ADDR: port 4191 is also the admin listener's/],
    [{ MESHBUS_PROXY_MODE: 'gateway', MESHBUS_PROXY_GATEWAY_ADDR: 'gateway' }, /^MESHBUS_PROXY_GATEWAY_ADDR/],
    [{ MESHBUS_PROXY_MODE: 'gateway', MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: 'web*.shop' }, /^MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: "web\*.shop": a \* may only/],
    [{ MESHBUS_PROXY_LOG_LEVEL: 'loud' }, /^MESHBUS_PROXY_LOG_LEVEL must be one of/],
    [{ MESHBUS_PROXY_LOG_FORMAT: 'xml' }, /^MESHBUS_PROXY_LOG_FORMAT must be json or plain/],
    [{ MESHBUS_PROXY_ACCESS_LOG: 'common' }, /^MESHBUS_PROXY_ACCESS_LOG must be off, apache or json/],
    [{ MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '30' }, /^MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: invalid duration/],
    [{ MESHBUS_PROXY_STREAM_IDLE_TIMEOUT: '0s' }, /^MESHBUS_PROXY_STREAM_IDLE_TIMEOUT must be longer than 0/],
    [{ MESHBUS_PROXY_STREAM_MAX_LIFETIME: 'forever' }, /^MESHBUS_PROXY_STREAM_MAX_LIFETIME: invalid duration/],
    [{ MESHBUS_PROXY_STREAM_LIFETIME_JITTER: '1' }, /^MESHBUS_PROXY_STREAM_LIFETIME_JITTER must be a fraction in \[0, 1\)/],
    [{ MESHBUS_PROXY_STREAM_INITIAL_TIMEOUT: '-1s' }, /^MESHBUS_PROXY_STREAM_INITIAL_TIMEOUT: invalid duration/],
    [{ MESHBUS_PROXY_TELEMETRY_INTERVAL: '500ms' }, /^MESHBUS_PROXY_TELEMETRY_INTERVAL must be between 1s and 1h, or 0s/],
    [{ MESHBUS_PROXY_TELEMETRY_INTERVAL: '10' }, /^MESHBUS_PROXY_TELEMETRY_INTERVAL: invalid duration/],
    [{ MESHBUS_PROXY_TAP: 'yes' }, /^MESHBUS_PROXY_TAP must be on or off, got "yes"/],
    [{ MESHBUS_PROXY_TAP_HEADERS: 'content-type,authorization' }, /^MESHBUS_PROXY_TAP_HEADERS: "authorization" cannot be tapped; the setting can only narrow the default list \(content-type, user-agent/],
    [{ MESHBUS_PROXY_TAP_HEADERS: 'X-Custom, cookie' }, /^MESHBUS_PROXY_TAP_HEADERS: "x-custom", "cookie" cannot be tapped/],
  ])('refuses %j', (env, message) => fails(env, message));
});

describe('MESHBUS_PROXY_TAP and MESHBUS_PROXY_TAP_HEADERS', () => {
  it('taps by default with the default header allowlist', () => {
    expect(proxyConfigFromEnv(base).tap).toEqual({ enabled: true, headers: [...DEFAULT_TAP_HEADERS] });
  });
  it('turns tap off, and narrows the headers (case and spaces aside; empty for none)', () => {
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TAP: 'off' }).tap?.enabled).toBe(false);
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TAP: 'ON' }).tap?.enabled).toBe(true);
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TAP_HEADERS: ' Content-Type ,x-request-id,' }).tap?.headers).toEqual(['content-type', 'x-request-id']);
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_TAP_HEADERS: '' }).tap?.headers).toEqual([]);
  });
});

describe('MESHBUS_PROXY_MODE', () => {
  it.each(['explicit', 'transparent', 'ingress', 'gateway'] as const)('reads %s', (mode) => {
    expect(proxyConfigFromEnv({ ...base, MESHBUS_PROXY_MODE: mode }).mode).toBe(mode);
  });

  it('gives gateway mode its listener (0.0.0.0:4180 by default) and allow-list', () => {
    const defaults = proxyConfigFromEnv({ ...base, MESHBUS_PROXY_MODE: 'gateway' });
    expect(defaults.multiclusterGateway).toEqual({ listener: { host: '0.0.0.0', port: 4180 }, allowedIdentities: undefined });
    const set = proxyConfigFromEnv({ ...base, MESHBUS_PROXY_MODE: 'gateway', MESHBUS_PROXY_GATEWAY_ADDR: '127.0.0.1:5180', MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: 'web.shop.example.org,*.billing.example.org' });
    expect(set.multiclusterGateway?.listener).toEqual({ host: '127.0.0.1', port: 5180 });
    expect([...(set.multiclusterGateway?.allowedIdentities?.exact ?? [])]).toEqual(['web.shop.example.org']);
    expect(set.multiclusterGateway?.allowedIdentities?.suffixes).toEqual(['.billing.example.org']);
    expect(proxyConfigFromEnv(base).multiclusterGateway).toBeUndefined();
  });
});

describe('parsePortMapping', () => {
  it('names the Destination authority of the service port', () => {
    expect(parsePortMapping(' 7000=web.shop:80 ', 'cluster.local').authority).toBe('web.shop.svc.cluster.local:80');
  });
});
