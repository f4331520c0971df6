import type { EventDataMap, EventKind } from './catalog.js';

/** One example message of a kind: where it is published and what it carries. */
export interface EventExample<K extends EventKind = EventKind> {
  /** A concrete NATS subject (the catalogue's pattern filled in). */
  natsSubject: string;
  /** CloudEvents `subject`: the key the event is about. */
  subject: string;
  /** CloudEvents `source`. */
  source: string;
  data: EventDataMap[K];
}

const pem = '-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUQmVzaG1idXMtZXhhbXBsZS1hbmNob3IwCgYIKoZIzj0E\nAwIwKTEnMCUGA1UEAwweaWRlbnRpdHkubWVzaGJ1cy5jbHVzdGVyLmxvY2FsMB4X\n-----END CERTIFICATE-----\n';
const token = 'ZXlKaGJHY2lPaUpGWkVSVFFTSjkuZXhhbXBsZQ==';

/**
 * An example of every kind of message, valid against its schema (a test
 * checks it). docs/events.md and the AsyncAPI document show them.
 */
export const eventExamples: { [K in EventKind]: EventExample<K> } = {
  endpointSet: {
    natsSubject: 'meshbus.v1.state.endpoints.shop.web.80',
    subject: 'shop/web/80',
    source: '/meshbus/destination/destination-7f9c',
    data: {
      namespace: 'shop',
      service: 'web',
      port: 80,
      portName: 'http',
      endpoints: [
        { address: '10.42.0.17', port: 8080, weight: 10000, identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', protocolHint: 'h2', zone: 'zone-a', labels: { pod: 'web-5d8f7-x2k4q' } },
        { address: '10.42.1.9', port: 8080, weight: 10000, identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', protocolHint: 'h2', zone: 'zone-b', labels: { pod: 'web-5d8f7-q7wrt' } },
      ],
    },
  },
  endpointSetDeleted: {
    natsSubject: 'meshbus.v1.state.endpoints.shop.web.80',
    subject: 'shop/web/80',
    source: '/meshbus/destination/destination-7f9c',
    data: { reason: 'service removed' },
  },
  serviceProfile: {
    natsSubject: 'meshbus.v1.state.profiles.shop.web',
    subject: 'shop/web',
    source: '/meshbus/destination/destination-7f9c',
    data: {
      namespace: 'shop',
      service: 'web',
      routes: [{ name: 'GET /api/items', condition: { all: [{ method: 'GET' }, { pathRegex: '/api/items' }] }, isRetryable: true, timeoutMs: 500 }],
      retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 },
      dstOverrides: [
        { authority: 'web-v1.shop.svc.cluster.local:80', weight: 900 },
        { authority: 'web-v2.shop.svc.cluster.local:80', weight: 100 },
      ],
      opaquePorts: [],
    },
  },
  serviceProfileDeleted: {
    natsSubject: 'meshbus.v1.state.profiles.shop.web',
    subject: 'shop/web',
    source: '/meshbus/destination/destination-7f9c',
    data: { reason: 'service removed' },
  },
  workloadRegistered: {
    natsSubject: 'meshbus.v1.state.workloads.shop.billing-vm-1',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/destination/destination-7f9c',
    data: { namespace: 'shop', name: 'billing-vm-1', address: '192.0.2.4', ports: [{ name: 'http', port: 8080 }], labels: { app: 'billing' }, serviceAccount: 'billing', zone: 'dc-1', heartbeatIntervalMs: 10000 },
  },
  workloadDeregistered: {
    natsSubject: 'meshbus.v1.state.workloads.shop.billing-vm-1',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/destination/destination-7f9c',
    data: { reason: 'deregistered: shutting down' },
  },
  manifestRejected: {
    natsSubject: 'meshbus.v1.events.manifest.rejected',
    subject: 'services/web.yaml',
    source: '/meshbus/destination/destination-7f9c',
    data: { file: 'services/web.yaml', kind: 'Service', namespace: 'shop', name: 'web', reason: '/spec/ports/0/port must be <= 65535' },
  },
  publishFailed: {
    natsSubject: 'meshbus.v1.events.publish.failed',
    subject: 'meshbus.v1.state.endpoints.shop.web.80',
    source: '/meshbus/destination/destination-7f9c',
    data: { subject: 'meshbus.v1.state.endpoints.shop.web.80', kind: 'endpointSet', reason: 'MAX_PAYLOAD_EXCEEDED', attempts: 3, since: '2026-12-01T10:00:00.000Z' },
  },
  leaderChanged: {
    natsSubject: 'meshbus.v1.events.leader.destination',
    subject: 'destination',
    source: '/meshbus/destination/destination-7f9c',
    data: { role: 'destination', holder: 'destination-7f9c', term: 42 },
  },
  workloadExpired: {
    natsSubject: 'meshbus.v1.events.workload.expired',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/destination/destination-7f9c',
    data: { namespace: 'shop', name: 'billing-vm-1', lastHeartbeat: '2026-12-01T10:00:00.000Z' },
  },
  certifyRequest: {
    natsSubject: 'meshbus.v1.identity.certify',
    subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    source: '/meshbus/gateway/gateway-2b1e',
    data: { identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', token, csr: 'MIIBKjCB0QIBADAA' },
  },
  certifyResponse: {
    natsSubject: '_INBOX_gateway.8HJ2kq1Vbq5Z4m9pXc3a.1',
    subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    source: '/meshbus/identity/identity-a1c3',
    data: { certificate: 'MIIBszCCAVmgAwIBAgIQ', intermediates: ['MIIBkTCCATegAwIBAgIU'], validUntil: '2026-12-02T10:00:00.000Z', serial: '4f1c2a9d0b7e' },
  },
  trustBundle: {
    natsSubject: 'meshbus.v1.state.trust-bundle.current',
    subject: 'current',
    source: '/meshbus/identity/identity-a1c3',
    data: { trustDomain: 'cluster.local', anchors: [pem] },
  },
  certificateIssued: {
    natsSubject: 'meshbus.v1.events.identity.certificate-issued',
    subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    source: '/meshbus/identity/identity-a1c3',
    data: { identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', serial: '4f1c2a9d0b7e', notAfter: '2026-12-02T10:00:00.000Z', replica: 'identity-a1c3', issuerSerial: '1a2b3c' },
  },
  issuerUpdated: {
    natsSubject: 'meshbus.v1.events.identity.issuer-updated',
    subject: 'identity-a1c3',
    source: '/meshbus/identity/identity-a1c3',
    data: { subject: 'CN=identity.meshbus.cluster.local', serial: '1a2b3c', notBefore: '2026-11-01T00:00:00.000Z', notAfter: '2027-11-01T00:00:00.000Z', replica: 'identity-a1c3', source: 'secret:meshbus/meshbus-identity-issuer', previousSerial: '0f0e0d' },
  },
  issuerRefused: {
    natsSubject: 'meshbus.v1.events.identity.issuer-refused',
    subject: 'identity-a1c3',
    source: '/meshbus/identity/identity-a1c3',
    data: { code: 'IssuerNotTrusted', reason: 'the issuer does not chain to any trust anchor; install an issuer signed by the trust anchor', source: 'dir:/etc/meshbus/identity', replica: 'identity-a1c3' },
  },
  workloadRegisterRequest: {
    natsSubject: 'meshbus.v1.rpc.workloads.register',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/register/billing-vm-1',
    data: { token, registration: { namespace: 'shop', name: 'billing-vm-1', address: '192.0.2.4', ports: [{ name: 'http', port: 8080 }], serviceAccount: 'billing', heartbeatIntervalMs: 10000 } },
  },
  workloadHeartbeatRequest: {
    natsSubject: 'meshbus.v1.rpc.workloads.heartbeat',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/register/billing-vm-1',
    data: { token, namespace: 'shop', name: 'billing-vm-1' },
  },
  workloadDeregisterRequest: {
    natsSubject: 'meshbus.v1.rpc.workloads.deregister',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/register/billing-vm-1',
    data: { token, namespace: 'shop', name: 'billing-vm-1', reason: 'shutting down' },
  },
  workloadRegistrationReply: {
    natsSubject: '_INBOX.Q9Zb3kW1mN7pXc2aL0v.1',
    subject: 'shop/billing-vm-1',
    source: '/meshbus/destination/destination-7f9c',
    data: { namespace: 'shop', name: 'billing-vm-1', outcome: 'registered', heartbeatIntervalMs: 10000 },
  },
  inboundPolicy: {
    natsSubject: 'meshbus.v1.state.inbound-policy.authn-ns.b',
    subject: 'authn-ns/b',
    source: '/meshbus/policy/policy-5e2d',
    data: {"namespace": "authn-ns", "workload": "b", "defaultPolicy": "all-authenticated", "ports": [], "defaultServer": {"metadata": {"default": "all-authenticated"}, "protocol": "detect", "detectTimeoutMs": 10000, "labels": {"group": "", "kind": "default", "name": "all-authenticated"}, "authorizations": [{"metadata": {"default": "all-authenticated"}, "networks": [{"net": "0.0.0.0/0"}, {"net": "::/0"}], "authentication": {"kind": "meshTls", "suffixes": [""]}}], "httpRoutes": [{"metadata": {"default": "default"}, "authorizations": [{"metadata": {"default": "all-authenticated"}, "networks": [{"net": "0.0.0.0/0"}, {"net": "::/0"}], "authentication": {"kind": "meshTls", "suffixes": [""]}}], "rules": [{"matches": [{"path": {"prefix": "/"}}]}]}]}},
  },
  inboundPolicyDeleted: {
    natsSubject: 'meshbus.v1.state.inbound-policy.authn-ns.b',
    subject: 'authn-ns/b',
    source: '/meshbus/policy/policy-5e2d',
    data: { reason: 'workload removed' },
  },
  outboundPolicy: {
    natsSubject: 'meshbus.v1.state.outbound-policy.shop.db.5432',
    subject: 'shop/db/5432',
    source: '/meshbus/policy/policy-5e2d',
    data: {"namespace": "shop", "service": "db", "port": 5432, "metadata": {"group": "core", "kind": "Service", "namespace": "shop", "name": "db", "port": 5432}, "authority": "db.shop.svc.cluster.local:5432", "addresses": ["10.96.0.23"], "protocol": "opaque", "routes": {"httpRoutes": [], "grpcRoutes": []}, "consumerRoutes": [], "opaqueBackends": [{"metadata": {"group": "core", "kind": "Service", "namespace": "shop", "name": "db", "port": 5432}, "weight": 1, "service": {"namespace": "shop", "name": "db", "port": 5432, "authority": "db.shop.svc.cluster.local:5432"}}]},
  },
  outboundPolicyDeleted: {
    natsSubject: 'meshbus.v1.state.outbound-policy.shop.db.5432',
    subject: 'shop/db/5432',
    source: '/meshbus/policy/policy-5e2d',
    data: { reason: 'service port removed' },
  },
  policyDefaults: {
    natsSubject: 'meshbus.v1.state.policy-defaults.cluster',
    subject: 'cluster',
    source: '/meshbus/policy/policy-5e2d',
    data: {"defaultPolicy": "all-unauthenticated", "clusterNetworks": ["10.0.0.0/8"], "probeNetworks": ["127.0.0.1/32"], "detectTimeoutMs": 10000, "identityDomain": "identity.meshbus.cluster.local", "namespaces": [{"namespace": "authn-ns", "defaultPolicy": "all-authenticated"}, {"namespace": "cluster-ns", "defaultPolicy": "cluster-unauthenticated"}, {"namespace": "deny-ns", "defaultPolicy": "deny"}]},
  },
  policyStatus: {
    natsSubject: 'meshbus.v1.state.policy-status.shop.NetworkAuthentication.office',
    subject: 'shop/NetworkAuthentication/office',
    source: '/meshbus/policy/policy-5e2d',
    data: { apiVersion: 'policy.linkerd.io/v1alpha1', kind: 'NetworkAuthentication', namespace: 'shop', name: 'office', file: 'policy/office.yaml', accepted: true, conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'shapes 1 port' }], affects: 1 },
  },
  policyStatusDeleted: {
    natsSubject: 'meshbus.v1.state.policy-status.shop.NetworkAuthentication.office',
    subject: 'shop/NetworkAuthentication/office',
    source: '/meshbus/policy/policy-5e2d',
    data: { reason: 'resource removed' },
  },
  policyRejected: {
    natsSubject: 'meshbus.v1.events.policy.rejected',
    subject: 'shop/HTTPRoute/no-parent',
    source: '/meshbus/policy/policy-5e2d',
    data: { file: 'policy/routes.yaml', kind: 'HTTPRoute', namespace: 'shop', name: 'no-parent', code: 'UnresolvedParent', reason: 'parentRef names Service shop/ghost, which does not exist; it takes no part in any policy' },
  },
  podInjection: {
    natsSubject: 'meshbus.v1.events.injector.pod.injected',
    subject: 'shop/web-5d8f7-*',
    source: '/meshbus/injector/injector-9a4f',
    data: { namespace: 'shop', generateName: 'web-5d8f7-', owner: { kind: 'ReplicaSet', name: 'web-5d8f7' }, result: 'injected', reason: { code: 'NamespaceEnabled', message: 'namespace shop is annotated meshbus.io/inject: enabled' }, proxyVersion: '0.1.0', dryRun: false, uid: '705ab4f5-6393-11e8-b7cc-42010a800002', replica: 'injector-9a4f' },
  },
  serviceExport: {
    natsSubject: 'meshbus.v1.exports.services.shop.web',
    subject: 'shop/web',
    source: '/meshbus/multicluster/multicluster-east-1',
    data: {
      cluster: 'east',
      namespace: 'shop',
      service: 'web',
      ports: [{ port: 80, name: 'http', ready: 3 }],
      identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'],
    },
  },
  serviceExportWithdrawn: {
    natsSubject: 'meshbus.v1.exports.services.shop.web',
    subject: 'shop/web',
    source: '/meshbus/multicluster/multicluster-east-1',
    data: { reason: 'service no longer exported' },
  },
  clusterGateway: {
    natsSubject: 'meshbus.v1.exports.gateways.east',
    subject: 'east',
    source: '/meshbus/multicluster/multicluster-east-1',
    data: {
      cluster: 'east',
      trustDomain: 'cluster.local',
      identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local',
      addresses: [{ address: '10.1.0.9', port: 4180 }],
      intervalMs: 2000,
    },
  },
  mirroredService: {
    natsSubject: 'meshbus.v1.state.mirrors.shop.web-east',
    subject: 'shop/web-east',
    source: '/meshbus/multicluster/multicluster-west-1',
    data: {
      namespace: 'shop',
      service: 'web-east',
      cluster: 'east',
      remoteService: 'web',
      ports: [{ port: 80, name: 'http', ready: 3 }],
      gateway: { identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }] },
      identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'],
      ready: true,
    },
  },
  mirroredServiceDeleted: {
    natsSubject: 'meshbus.v1.state.mirrors.shop.web-east',
    subject: 'shop/web-east',
    source: '/meshbus/multicluster/multicluster-west-1',
    data: { reason: 'no heartbeat from east for 30.2s, past the grace period of 30s' },
  },
  policyFailoverChanged: {
    natsSubject: 'meshbus.v1.events.policy.failover.shop.web-split',
    subject: 'shop/HTTPRoute/web-split',
    source: '/meshbus/policy/policy-7f9c',
    data: {
      namespace: 'shop',
      kind: 'HTTPRoute',
      route: 'web-split',
      rule: 1,
      serviceNamespace: 'shop',
      service: 'web',
      port: 80,
      primary: 'web',
      failedOver: true,
      backends: [
        { namespace: 'shop', name: 'web', port: 80, weight: 0 },
        { namespace: 'shop', name: 'web-east', port: 80, weight: 10 },
      ],
    },
  },
  linkChanged: {
    natsSubject: 'meshbus.v1.events.multicluster.link.east',
    subject: 'east',
    source: '/meshbus/multicluster/multicluster-west-1',
    data: { cluster: 'east', health: 'quiet', previous: 'live', mirrored: 1, heartbeatAgeMs: 6200, reason: 'no heartbeat from east for 6.2s' },
  },
  metricsSummary: {
    natsSubject: 'meshbus.v1.metrics.shop.web',
    subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    source: '/meshbus/gateway/gateway-7c2e',
    data: {
      namespace: 'shop',
      workload: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-5d8f7-x2k9q',
      intervalStart: '2026-12-01T10:00:00.000Z',
      intervalMs: 10000,
      latencyBoundsMs: [1, 5, 10, 50, 100, 500, 1000],
      requests: [
        { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', route: 'default', statusClass: 2, tls: true, success: 118, failure: 0, latency: [0, 64, 41, 12, 1, 0, 0, 0] },
        { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', route: 'default', statusClass: 5, tls: true, success: 0, failure: 2, latency: [0, 1, 1, 0, 0, 0, 0, 0] },
      ],
      tcp: [{ direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', opened: 3, closed: 1, open: 2, readBytes: 48210, writeBytes: 20544 }],
    },
  },
  tapRequest: {
    natsSubject: 'meshbus.v1.tap.requests.shop.web',
    subject: 'shop/web',
    source: '/meshbus/cli/ops-laptop',
    data: { sessionId: 'k3v9q2m7x1c4', action: 'start', namespace: 'shop', workload: 'web', filter: { path: '/api/', method: 'GET' }, maxRps: 20, expiresInMs: 15000 },
  },
  tapEvent: {
    natsSubject: 'meshbus.v1.tap.events.k3v9q2m7x1c4',
    subject: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    source: '/meshbus/gateway/gateway-7c2e',
    data: {
      sessionId: 'k3v9q2m7x1c4',
      namespace: 'shop',
      workload: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-5d8f7-x2k9q',
      startedAt: '2026-12-01T10:00:01.250Z',
      direction: 'inbound',
      method: 'GET',
      authority: 'web.shop.svc.cluster.local:80',
      path: '/api/cart',
      status: 200,
      latencyMs: 12,
      tls: true,
      peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
      headers: { 'content-type': 'application/json', 'x-request-id': '5f0c1e2a' },
    },
  },
};
