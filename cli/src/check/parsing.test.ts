import { describe, expect, it } from 'vitest';
import { parseServerVersion } from './checks-api.js';
import { workloadProblem } from './checks-control-plane.js';
import { serviceProxyPath, withLabels, objectPath } from './cluster.js';
import { parseInstallValues } from './context.js';

describe('parseInstallValues', () => {
  it('reads version, ha and an external NATS URL', () => {
    expect(parseInstallValues('version: 0.2.0\ncontrolNamespace: meshbus\nha: true\nnats:\n  url: nats://nats.example:4222\n')).toEqual({ version: '0.2.0', proxyVersion: '0.2.0', ha: true, natsUrl: 'nats://nats.example:4222' });
    expect(parseInstallValues('version: 0.2.0\n')).toEqual({ version: '0.2.0', proxyVersion: '0.2.0', ha: false });
    expect(parseInstallValues('version: "1.0"\nnats: {}\n')).toEqual({ version: '1.0', proxyVersion: '1.0', ha: false });
  });

  it('takes the proxy version from injector.proxyVersion, as the injector is configured with it', () => {
    expect(parseInstallValues('version: 0.2.0\ninjector:\n  proxyVersion: 0.2.1-hotfix\n')).toEqual({ version: '0.2.0', proxyVersion: '0.2.1-hotfix', ha: false });
    expect(parseInstallValues('version: 0.2.0\ninjector:\n  cni: true\n')).toMatchObject({ proxyVersion: '0.2.0' });
  });

  it.each([
    ['version: [1', /^values\.yaml is not YAML/],
    ['- a\n- b\n', 'values.yaml is not a YAML mapping'],
    ['ha: true\n', 'values.yaml has no version (a string)'],
    ['version: 1.0\n', 'values.yaml has no version (a string)'],
    ['version: "1"\nnats: 3\n', 'values.yaml: nats must be a mapping'],
    ['version: "1"\nnats:\n  url: 3\n', 'values.yaml: nats.url must be a string'],
    ['version: "1"\ninjector: on\n', 'values.yaml: injector must be a mapping'],
    ['version: "1"\ninjector:\n  proxyVersion: 2\n', 'values.yaml: injector.proxyVersion must be a non-empty string'],
  ])('refuses %j', (text, message) => {
    expect(() => parseInstallValues(text)).toThrow(message);
  });
});

describe('parseServerVersion', () => {
  it('prefers gitVersion and accepts the + of managed clusters', () => {
    expect(parseServerVersion({ major: '1', minor: '29+', gitVersion: 'v1.29.4-gke.1' })).toEqual({ major: 1, minor: 29, text: 'v1.29.4-gke.1' });
    expect(parseServerVersion({ major: '1', minor: '27+' })).toEqual({ major: 1, minor: 27, text: '1.27' });
    expect(() => parseServerVersion({})).toThrow("the API server's /version answer names no version");
  });
});

describe('workloadProblem', () => {
  const ready = { replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2, observedGeneration: 3 };
  it('is undefined for a ready workload and says what is missing otherwise', () => {
    expect(workloadProblem({ metadata: { generation: 3 }, spec: { replicas: 2 }, status: ready }, 'deployment')).toBeUndefined();
    expect(workloadProblem({ metadata: { generation: 4 }, spec: { replicas: 2 }, status: ready }, 'deployment')).toBe('the controller has not seen the newest spec yet');
    expect(workloadProblem({ spec: { replicas: 2 }, status: { ...ready, readyReplicas: 1 } }, 'deployment')).toBe('1 of 2 replicas ready');
    expect(workloadProblem({ spec: {}, status: {} }, 'statefulset')).toBe('0 of 1 replica ready');
    expect(workloadProblem({ spec: { replicas: 2 }, status: { ...ready, availableReplicas: 0 } }, 'deployment')).toBe('0 of 2 replicas available');
    expect(workloadProblem({ spec: { replicas: 2 }, status: { ...ready, availableReplicas: 0 } }, 'statefulset')).toBeUndefined();
    expect(workloadProblem({ spec: { replicas: 2 }, status: { ...ready, updatedReplicas: 1 } }, 'deployment')).toBe('1 of 2 replicas updated (a rollout is under way)');
  });
});

describe('API paths', () => {
  it('names objects, label selectors and the service proxy as the API server does', () => {
    expect(objectPath('v1', 'secrets', { namespace: 'meshbus', name: 'meshbus-identity-issuer' })).toBe('/api/v1/namespaces/meshbus/secrets/meshbus-identity-issuer');
    expect(objectPath('apiextensions.k8s.io/v1', 'customresourcedefinitions', { name: 'servers.policy.meshbus.io' })).toBe('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servers.policy.meshbus.io');
    expect(withLabels('/api/v1/pods', { 'meshbus.io/control-namespace': 'meshbus', a: 'b' })).toBe('/api/v1/pods?labelSelector=meshbus.io%2Fcontrol-namespace%3Dmeshbus%2Ca%3Db');
    expect(serviceProxyPath({ namespace: 'meshbus', name: 'meshbus-nats', port: 8222, scheme: 'http' }, '/healthz?js-enabled-only=true')).toBe(
      '/api/v1/namespaces/meshbus/services/http:meshbus-nats:8222/proxy/healthz?js-enabled-only=true',
    );
    expect(serviceProxyPath({ namespace: 'meshbus', name: 'meshbus-injector', port: 443, scheme: 'https' }, 'inject')).toBe('/api/v1/namespaces/meshbus/services/https:meshbus-injector:443/proxy/inject');
  });
});
