import { createHash } from 'node:crypto';
import type { InjectionConfig } from '../inject.js';

/** A stand-in for the anchors PEM: the golden files show where it goes, not a real certificate. */
export const testAnchorsPem = '-----BEGIN CERTIFICATE-----\nMIIBfDCCASOgAwIBAgIUtestanchor\n-----END CERTIFICATE-----\n';

/** A stand-in for the PEM of the gateways' CA. */
export const testGatewayCaPem = '-----BEGIN CERTIFICATE-----\nMIIBeTCCAR+gAwIBAgIUtestgatewayca\n-----END CERTIFICATE-----\n';

/** The injector configuration of the golden cases and unit tests. */
export const testConfig: InjectionConfig = {
  proxyImage: 'ghcr.io/meshbus/meshbus',
  proxyVersion: '0.1.0',
  gateways: ['meshbus-gateway.meshbus.svc.cluster.local:8086'],
  gatewayTlsName: 'meshbus-gateway.meshbus.svc.cluster.local',
  controlNamespace: 'meshbus',
  clusterDomain: 'cluster.local',
  identityAudience: 'identity.meshbus.io',
  tokenExpirationSeconds: 86400,
  trustAnchors: { kind: 'pem', pem: testAnchorsPem },
  trustRootSha256: createHash('sha256').update(testAnchorsPem).digest('hex'),
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
