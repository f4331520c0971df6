import type { InjectionConfig } from '../inject.js';

/** The injector configuration of the golden cases and unit tests. */
export const testConfig: InjectionConfig = {
  proxyImage: 'ghcr.io/meshbus/proxy',
  proxyVersion: '0.1.0',
  gateways: ['meshbus-gateway.meshbus.svc.cluster.local:8086'],
  gatewayTlsName: 'meshbus-gateway.meshbus.svc.cluster.local',
  controlNamespace: 'meshbus',
  clusterDomain: 'cluster.local',
  identityAudience: 'identity.meshbus.io',
  tokenExpirationSeconds: 86400,
  trustAnchorsConfigMap: 'meshbus-trust-anchors',
  trustRootSha256: '5f3c1b0e7a5a2b1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e',
  cniMode: false,
  nativeSidecar: false,
  defaults: {
    logLevel: 'info',
    logFormat: 'json',
    cpuRequest: '100m',
    memoryRequest: '64Mi',
    memoryLimit: '256Mi',
    shutdownGracePeriod: '30s',
    accessLog: 'off',
  },
  injectedBy: 'meshbus-injector/0.1.0',
};
