import { Pod as PodModel } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseConfigAnnotations } from './annotations.js';
import { injectPod } from './inject.js';
import type { Pod } from './k8s-types.js';
import { testConfig } from './testdata/config.js';

const pod = (annotations: Record<string, string> = {}, extra: Partial<Pod['spec']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', annotations },
  spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }], ...extra },
});
const ns = (annotations: Record<string, string> = {}, name = 'ns') => ({ name, annotations });

describe('injectPod', () => {
  it('leaves pods that did not ask alone, and the control plane and kube-system always', () => {
    expect(injectPod(pod(), ns(), testConfig)).toMatchObject({ kind: 'skipped', reason: expect.stringContaining('meshbus.io/inject: enabled') });
    expect(injectPod(pod(), ns({ 'meshbus.io/inject': 'enabled' }, 'kube-system'), testConfig)).toMatchObject({ kind: 'skipped', reason: 'namespace kube-system is never injected' });
    expect(injectPod(pod(), ns({ 'meshbus.io/inject': 'enabled' }, 'meshbus'), testConfig).kind).toBe('skipped');
    expect(injectPod(pod({ 'meshbus.io/inject': 'enabled' }, { hostNetwork: true }), ns(), testConfig)).toMatchObject({ kind: 'skipped', reason: expect.stringContaining('host network') });
  });

  it('injects an enabled pod in a disabled namespace (the pod decides)', () => {
    expect(injectPod(pod({ 'meshbus.io/inject': 'enabled' }), ns({ 'meshbus.io/inject': 'disabled' }), testConfig).kind).toBe('injected');
  });

  it('refuses a bad inject value, an unknown configuration annotation and malformed values, naming them', () => {
    expect(injectPod(pod({ 'meshbus.io/inject': 'yes' }), ns(), testConfig)).toMatchObject({ kind: 'refused', annotation: 'meshbus.io/inject', message: expect.stringContaining('enabled or disabled') });
    const unknown = injectPod(pod({ 'meshbus.io/inject': 'enabled', 'config.meshbus.io/proxy-colour': 'blue' }), ns(), testConfig);
    expect(unknown).toMatchObject({ kind: 'refused', annotation: 'config.meshbus.io/proxy-colour', message: expect.stringContaining('config.meshbus.io/proxy-log-level') });
    // Inherited from the namespace, a bad value is refused the same way.
    const inherited = injectPod(pod({ 'meshbus.io/inject': 'enabled' }), ns({ 'config.meshbus.io/access-log': 'yes' }), testConfig);
    expect(inherited).toMatchObject({ kind: 'refused', message: 'annotation config.meshbus.io/access-log: "yes" is not allowed; expected one of off, apache, json' });
  });

  it.each([
    ['config.meshbus.io/proxy-cpu-request', '1 core'],
    ['config.meshbus.io/proxy-memory-limit', '64MB'],
    ['config.meshbus.io/skip-inbound-ports', '70000'],
    ['config.meshbus.io/skip-outbound-ports', '10-5'],
    ['config.meshbus.io/skip-subnets', '10.0.0.0/33'],
    ['config.meshbus.io/opaque-ports', 'mysql'],
    ['config.meshbus.io/default-inbound-policy', 'allow'],
    ['config.meshbus.io/shutdown-grace-period', '30'],
    ['config.meshbus.io/proxy-image', 'Proxy:latest'],
    ['config.meshbus.io/proxy-version', 'v 1'],
    ['config.meshbus.io/proxy-log-format', 'xml'],
    ['config.meshbus.io/native-sidecar', 'yes'],
  ])('refuses %s: %s', (annotation, value) => {
    expect(() => parseConfigAnnotations({ [annotation]: value })).toThrow(`annotation ${annotation}: ${JSON.stringify(value)} is not allowed; expected`);
  });

  it('says why with a stable code, and which proxy version a pod gets', () => {
    const enabled = { 'meshbus.io/inject': 'enabled' };
    const codeOf = (p: Pod, n = ns()) => injectPod(p, n, testConfig).code;
    expect(codeOf(pod(enabled))).toBe('PodEnabled');
    expect(codeOf(pod(), ns(enabled))).toBe('NamespaceEnabled');
    expect(codeOf(pod({ 'meshbus.io/inject': 'disabled' }), ns(enabled))).toBe('PodDisabled');
    expect(codeOf(pod())).toBe('NotEnabled');
    expect(codeOf(pod(), ns(enabled, 'kube-system'))).toBe('ExcludedNamespace');
    expect(codeOf(pod(enabled, { hostNetwork: true }))).toBe('HostNetwork');
    expect(codeOf(pod({ 'meshbus.io/inject': 'on' }))).toBe('InvalidAnnotation');
    const injected = injectPod(pod(enabled), ns(), testConfig);
    if (injected.kind !== 'injected') throw new Error(injected.kind);
    expect(codeOf(injected.pod)).toBe('AlreadyInjected');
    expect(injected.proxyVersion).toBe(testConfig.proxyVersion);
    expect(injectPod(pod(), ns({ ...enabled, 'config.meshbus.io/proxy-version': '0.2.0-rc.1' }), testConfig)).toMatchObject({ kind: 'injected', proxyVersion: '0.2.0-rc.1' });
  });

  it('gives the proxy the anchors PEM in its environment, or mounts the ConfigMap when told so', () => {
    const envOf = (r: ReturnType<typeof injectPod>) => {
      if (r.kind !== 'injected') throw new Error(r.kind);
      return { containers: r.pod.spec.containers, volumes: r.pod.spec.volumes ?? [], env: Object.fromEntries((r.pod.spec.containers[0]!.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value])) };
    };
    const pem = envOf(injectPod(pod({ 'meshbus.io/inject': 'enabled' }), ns(), { ...testConfig, gatewayCaPem: 'GW-CA' }));
    expect(pem.env.MESHBUS_PROXY_TRUST_ANCHORS_PEM).toBe(testConfig.trustAnchors.kind === 'pem' ? testConfig.trustAnchors.pem : '');
    expect(pem.env.MESHBUS_PROXY_GATEWAY_CA_PEM).toBe('GW-CA');
    expect(pem.env).not.toHaveProperty('MESHBUS_PROXY_TRUST_ANCHORS');
    expect(pem.volumes.map((v) => v.name)).toEqual(['meshbus-identity-token']);
    const mounted = envOf(injectPod(pod({ 'meshbus.io/inject': 'enabled' }), ns(), { ...testConfig, trustAnchors: { kind: 'configMap', name: 'anchors' } }));
    expect(mounted.env.MESHBUS_PROXY_TRUST_ANCHORS).toBe('/var/run/meshbus/trust-anchors/ca.crt');
    expect(mounted.env).not.toHaveProperty('MESHBUS_PROXY_TRUST_ANCHORS_PEM');
    expect(mounted.env).not.toHaveProperty('MESHBUS_PROXY_GATEWAY_CA_PEM');
    expect(mounted.volumes).toContainEqual({ name: 'meshbus-trust-anchors', configMap: { name: 'anchors', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
  });

  it('the pod annotation wins over the namespace', () => {
    const r = injectPod(pod({ 'meshbus.io/inject': 'enabled', 'config.meshbus.io/proxy-log-level': 'debug' }), ns({ 'config.meshbus.io/proxy-log-level': 'error' }), testConfig);
    if (r.kind !== 'injected') throw new Error(r.kind);
    const env = r.pod.spec.containers[0]!.env as Array<{ name: string; value?: string }>;
    expect(env.find((e) => e.name === 'MESHBUS_PROXY_LOG_LEVEL')?.value).toBe('debug');
  });

  it('the Kubernetes schema check used by the golden tests does catch a broken pod', () => {
    const r = injectPod(pod({ 'meshbus.io/inject': 'enabled' }), ns(), testConfig);
    if (r.kind !== 'injected') throw new Error(r.kind);
    const broken = structuredClone(r.pod) as unknown as { spec: { containers: Array<Record<string, unknown>> } };
    broken.spec.containers[0]!.ports = [{ containerPort: 'eighty' }];
    expect(() => new PodModel(broken as never).validate()).toThrow();
  });
});
