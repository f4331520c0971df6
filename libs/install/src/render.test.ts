import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { adminPorts, clusterRules, componentName, components, crdName, customResources, issuerSecretName, valuesConfigMapName } from './layout.js';
import type { KubeObject } from './objects.js';
import { formatObjects } from './output.js';
import { controlPlaneUid, renderInstallation } from './render.js';
import { fixedTestMaterial, kubernetesProblems } from './test-fixtures.js';
import type { InstallValues } from './values.js';

// Rendered objects are read by path in these tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const version = '0.1.0';
const render = (values: InstallValues = {}) => renderInstallation({ values, material: fixedTestMaterial, version });

function find(objects: readonly KubeObject[], kind: string, name: string): Record<string, Loose> {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as Record<string, Loose>;
}

function envOf(objects: readonly KubeObject[], component: string): Record<string, unknown> {
  const deployment = find(objects, 'Deployment', componentName(component as never));
  const container = deployment.spec.template.spec.containers[0];
  return Object.fromEntries((container.env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e.value ?? e.valueFrom]));
}

describe('renderInstallation', () => {
  it.each<[string, InstallValues]>([
    ['the default', {}],
    ['--ha', { ha: true }],
    ['--nats-url', { nats: { url: 'nats://nats.example:4222' } }],
    ['an external issuer, preferred anti-affinity, no gateway TLS', { ha: true, nodeAntiAffinity: 'preferred', identity: { issuer: { external: true } }, gateway: { tls: false } }],
  ])('%s render: every object validates against the Kubernetes schemas', (_name, values) => {
    const objects = render(values);
    expect(objects.flatMap(kubernetesProblems)).toEqual([]);
  });

  it('the validation finds an unknown field and a wrong type', () => {
    const objects = render();
    const deployment = structuredClone(find(objects, 'Deployment', 'meshbus-gateway')) as KubeObject & Record<string, Loose>;
    deployment.spec.template.spec.containers[0].imagee = 'typo';
    deployment.spec.replicas = 'three';
    const problems = kubernetesProblems(deployment);
    expect(problems.join('\n')).toContain('spec.template.spec.containers[0].imagee is not a field of Deployment');
    expect(problems.join('\n')).toContain('replicas');
  });

  it('puts CRDs first, the Namespace next and the webhook configuration last', () => {
    const objects = render();
    const kinds = objects.map((o) => o.kind);
    expect(kinds.slice(0, customResources.length)).toEqual(customResources.map(() => 'CustomResourceDefinition'));
    expect(objects.slice(0, customResources.length).map((o) => o.metadata.name)).toEqual(customResources.map(crdName));
    expect(kinds[customResources.length]).toBe('Namespace');
    expect(kinds.at(-1)).toBe('MutatingWebhookConfiguration');
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it('marks the namespace as the control plane, never injected', () => {
    expect(find(render({ namespace: 'mesh-system' }), 'Namespace', 'mesh-system').metadata).toMatchObject({
      labels: { 'meshbus.io/control-plane-ns': 'true' },
      annotations: { 'meshbus.io/inject': 'disabled' },
    });
  });

  it('gives each component its account, rules, Deployment and Service', () => {
    const objects = render();
    for (const component of components) {
      const name = componentName(component);
      find(objects, 'ServiceAccount', name);
      find(objects, 'Service', name);
      const deployment = find(objects, 'Deployment', name);
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      expect(container.image).toBe(`ghcr.io/meshbus/meshbus:${version}`);
      expect(container.args).toEqual(['serve', component]);
      expect(container.livenessProbe.httpGet).toMatchObject({ path: '/live', port: 'admin' });
      expect(container.readinessProbe.httpGet).toMatchObject({ path: '/ready', port: 'admin' });
      expect(container.ports[0]).toEqual({ name: 'admin', containerPort: adminPorts[component], protocol: 'TCP' });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 2103, seccompProfile: { type: 'RuntimeDefault' } });
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(deployment.spec.replicas).toBe(1);
      if (clusterRules[component].length > 0) {
        expect(find(objects, 'ClusterRole', name).rules).toEqual(clusterRules[component]);
        expect(find(objects, 'ClusterRoleBinding', name).subjects).toEqual([{ kind: 'ServiceAccount', name, namespace: 'meshbus' }]);
      } else {
        expect(objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === name)).toBe(false);
      }
    }
    expect(find(objects, 'Role', 'meshbus-identity').rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'], resourceNames: [issuerSecretName] }]);
    expect(find(objects, 'Deployment', 'meshbus-gateway').spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(find(objects, 'Deployment', 'meshbus-identity').spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(find(objects, 'Service', 'meshbus-gateway').spec.ports[0]).toMatchObject({ name: 'grpc', port: 8086 });
    expect(find(objects, 'Service', 'meshbus-injector').spec.ports[0]).toMatchObject({ name: 'webhook', port: 443, targetPort: 'webhook' });
  });

  it('configures each service with the variables its config reads', () => {
    const objects = render();
    const natsUrl = 'nats://meshbus-nats-client.meshbus.svc.cluster.local:4222';
    expect(envOf(objects, 'destination')).toMatchObject({ NATS_URL: natsUrl, NATS_USER: 'destination', MESHBUS_RESOURCE_SOURCE: 'kubernetes', MESHBUS_TOKEN_VALIDATION: 'kubernetes', MESHBUS_STREAM_REPLICAS: '1' });
    expect(envOf(objects, 'destination').NATS_PASSWORD).toEqual({ secretKeyRef: { name: 'meshbus-nats-users', key: 'destination' } });
    expect(envOf(objects, 'identity')).toMatchObject({ MESHBUS_IDENTITY_MODE: 'kubernetes', MESHBUS_ISSUER_SECRET: 'meshbus/meshbus-identity-issuer', MESHBUS_ADMIN_ADDR: '0.0.0.0:9990' });
    expect(envOf(objects, 'policy')).toMatchObject({ MESHBUS_RESOURCE_SOURCE: 'kubernetes', MESHBUS_CONTROL_NAMESPACE: 'meshbus' });
    expect(envOf(objects, 'gateway')).toMatchObject({ MESHBUS_GRPC_ADDR: '0.0.0.0:8086', MESHBUS_TLS_CERT: '/var/run/meshbus/tls/tls.crt', MESHBUS_ENSURE_STREAMS: 'false' });
    expect(envOf(objects, 'injector')).toMatchObject({ MESHBUS_INJECTOR_TLS_CERT: '/var/run/meshbus/tls/tls.crt', MESHBUS_INJECTOR_TRUST_ANCHORS: '/var/run/meshbus/trust-anchors/ca.crt', MESHBUS_RESOURCE_SOURCE: 'kubernetes' });
    expect(envOf(objects, 'injector')).toMatchObject({ NATS_URL: natsUrl, NATS_USER: 'injector', MESHBUS_INJECTOR_GATEWAY_CA: '/var/run/meshbus/trust-anchors/ca.crt' });
    expect(envOf(objects, 'injector')).not.toHaveProperty('MESHBUS_INJECTOR_TRUST_ANCHORS_CONFIGMAP');
    expect(envOf(render({ nats: { url: 'nats://a:4222,nats://b:4222' } }), 'policy').NATS_URL).toBe('nats://a:4222,nats://b:4222');
  });

  it('holds the issuer in a kubernetes.io/tls Secret with the anchors, and the anchors in a ConfigMap', () => {
    const objects = render();
    const secret = find(objects, 'Secret', issuerSecretName);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toBe(fixedTestMaterial.identity.issuer?.certificatePem);
    expect(Buffer.from(secret.data['ca.crt'], 'base64').toString()).toBe(fixedTestMaterial.identity.trustAnchorsPem);
    expect(find(objects, 'ConfigMap', 'meshbus-trust-anchors').data).toEqual({ 'ca.crt': fixedTestMaterial.identity.trustAnchorsPem });
    expect(objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name === 'meshbus-trust-anchors').map((o) => o.metadata.namespace)).toEqual(['meshbus']);
    const external = render({ identity: { issuer: { external: true } } });
    expect(external.some((o) => o.metadata.name === issuerSecretName)).toBe(false);
    find(external, 'ConfigMap', 'meshbus-trust-anchors');
  });

  it('registers the webhook with the injector CA, Ignore by default and Fail in HA, away from its own namespace and kube-system', () => {
    const webhook = (values: InstallValues) => find(render(values), 'MutatingWebhookConfiguration', 'meshbus-injector').webhooks[0];
    const plain = webhook({});
    expect(plain).toMatchObject({
      name: 'inject.meshbus.io',
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['meshbus', 'kube-system'] }] },
      clientConfig: { service: { name: 'meshbus-injector', namespace: 'meshbus', port: 443, path: '/inject' } },
    });
    expect(Buffer.from(plain.clientConfig.caBundle, 'base64').toString()).toBe(fixedTestMaterial.injectorTls.caPem);
    expect(webhook({ ha: true }).failurePolicy).toBe('Fail');
    expect(webhook({ ha: true, webhook: { failurePolicy: 'Ignore' } }).failurePolicy).toBe('Ignore');
  });

  it('in HA runs three replicas apart, with disruption budgets and three stream replicas', () => {
    const objects = render({ ha: true });
    for (const component of components) {
      const deployment = find(objects, 'Deployment', componentName(component));
      expect(deployment.spec.replicas).toBe(3);
      const affinity = deployment.spec.template.spec.affinity.podAntiAffinity;
      expect(affinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
      expect(affinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('topology.kubernetes.io/zone');
      expect(find(objects, 'PodDisruptionBudget', componentName(component)).spec).toMatchObject({ maxUnavailable: 1 });
    }
    expect(envOf(objects, 'identity').MESHBUS_STREAM_REPLICAS).toBe('3');
    expect(render().some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name !== 'meshbus-nats')).toBe(false);
    expect(find(render({ ha: true, components: { gateway: { replicas: 5 } } }), 'Deployment', 'meshbus-gateway').spec.replicas).toBe(5);
  });

  it('renders a NATS cluster of three with JetStream and a login per role, unless an external URL is given', () => {
    const objects = render();
    const statefulSet = find(objects, 'StatefulSet', 'meshbus-nats');
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi');
    expect(statefulSet.spec.template.spec.containers[0].livenessProbe.httpGet.path).toMatch(/^\/healthz/);
    const conf = find(objects, 'ConfigMap', 'meshbus-nats-config').data['nats.conf'] as string;
    expect(conf).toContain('jetstream {');
    expect(conf).toContain('nats://meshbus-nats-2.meshbus-nats.meshbus.svc.cluster.local:6222');
    expect(conf).not.toContain('test-password');
    const users = find(objects, 'Secret', 'meshbus-nats-users');
    const auth = Buffer.from(users.data['auth.conf'], 'base64').toString();
    expect(auth).toContain('password: "test-password-gateway"');
    expect(Buffer.from(users.data.identity, 'base64').toString()).toBe('test-password-identity');
    expect(find(objects, 'Service', 'meshbus-nats').spec.clusterIP).toBe('None');
    find(objects, 'Service', 'meshbus-nats-client');

    const external = render({ nats: { url: 'nats://nats.example:4222' } });
    expect(external.some((o) => o.kind === 'StatefulSet')).toBe(false);
    expect(external.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'meshbus-nats-config')).toBe(false);
    find(external, 'Secret', 'meshbus-nats-users');
  });

  it('stores the values it was given, without secrets', () => {
    const values: InstallValues = { ha: true, logLevel: 'debug' };
    const configMap = find(render(values), 'ConfigMap', valuesConfigMapName);
    expect(parseYaml(configMap.data['values.yaml'])).toEqual({ ...values, version });
  });

  it('rolls the injector when its certificate changes', () => {
    const checksum = (objects: KubeObject[]) => find(objects, 'Deployment', 'meshbus-injector').spec.template.metadata.annotations['meshbus.io/config-checksum'];
    const other = renderInstallation({ values: {}, version, material: { ...fixedTestMaterial, injectorTls: { ...fixedTestMaterial.injectorTls, certificatePem: 'other' } } });
    expect(checksum(render())).not.toBe(checksum(other));
  });
});

// The default render, with fixed stand-ins for the generated key material. After an intended
// change, rewrite it with
//   UPDATE_GOLDEN=1 npx vitest run --project unit libs/install/src/render.test.ts
// and read the diff.
describe('golden render', () => {
  const path = fileURLToPath(new URL('./testdata/install-default.golden.yaml', import.meta.url));
  it('matches testdata/install-default.golden.yaml', () => {
    const actual = formatObjects(render(), 'yaml');
    // Plain YAML for every reader: no anchors and aliases for repeated parts.
    expect(actual).not.toMatch(/[&*]a\d+/);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, actual);
    expect(actual).toBe(readFileSync(path, 'utf8'));
  });
});

// Two linked clusters: east exports to west and listens for its leaf node; west mirrors east and
// connects to it. Each golden file holds only the objects the multicluster values add to the
// default render, or change in it. Rewritten as above.
describe('multicluster render', () => {
  const east: InstallValues = {
    multicluster: {
      enabled: true,
      clusterName: 'east',
      exportTo: ['west'],
      gateway: { addresses: ['203.0.113.7:4180'], serviceAnnotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' } },
      leafnode: { loadBalancerSourceRanges: ['198.51.100.0/24'] },
    },
  };
  const west: InstallValues = { multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://nats.east.example:7422' }] } };
  const material = { ...fixedTestMaterial, linkPasswords: { west: 'test-link-password-west' } };
  const renderMc = (values: InstallValues) => renderInstallation({ values, material, version });
  const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const secretText = (objects: readonly KubeObject[], k: string) => Buffer.from(find(objects, 'Secret', 'meshbus-nats-users').data[k] as string, 'base64').toString();
  const natsConf = (objects: readonly KubeObject[]) => find(objects, 'ConfigMap', 'meshbus-nats-config').data['nats.conf'] as string;

  it.each<[string, InstallValues]>([
    ['east', east],
    ['west', west],
    ['east with ha and an external NATS', { ...east, ha: true, nats: { url: 'nats://nats.example:4222' } }],
    ['west without gateway TLS, ClusterIP Services', { ...west, gateway: { tls: false }, multicluster: { ...west.multicluster, gateway: { serviceType: 'ClusterIP' } } }],
  ])('%s: every object validates against the Kubernetes schemas', (_name, values) => {
    expect(renderMc(values).flatMap(kubernetesProblems)).toEqual([]);
  });

  it('changes nothing when not enabled', () => {
    const off = renderMc({ multicluster: { enabled: false, clusterName: 'east', exportTo: ['west'] } });
    // Only the stored values differ: they hold what was given.
    expect(off.filter((o) => o.kind !== 'ConfigMap' || o.metadata.name !== valuesConfigMapName)).toEqual(render().filter((o) => o.kind !== 'ConfigMap' || o.metadata.name !== valuesConfigMapName));
  });

  it('east: the JetStream domain, the leaf node listener and its Service, the link login of west', () => {
    const objects = renderMc(east);
    const conf = natsConf(objects);
    expect(conf).toMatch(/jetstream \{\n {2}store_dir: \/data\/jetstream\n {2}domain: east\n\}/);
    expect(conf).toContain('leafnodes {\n  listen: "0.0.0.0:7422"\n  no_advertise: true\n  tls {\n    cert_file: "/etc/nats/leafnode-tls/tls.crt"\n    key_file: "/etc/nats/leafnode-tls/tls.key"\n  }\n}');
    expect(conf).not.toContain('remotes');
    // The listener's certificate and key are mounted into NATS; the CA's key stays in the Secret.
    const tlsSecret = find(objects, 'Secret', 'meshbus-nats-leafnode-tls');
    expect(Object.keys(tlsSecret.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const natsPod = find(objects, 'StatefulSet', 'meshbus-nats').spec.template.spec;
    expect(natsPod.volumes).toContainEqual({
      name: 'leafnode-tls',
      secret: { secretName: 'meshbus-nats-leafnode-tls', defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] },
    });
    expect(natsPod.containers[0].volumeMounts).toContainEqual({ name: 'leafnode-tls', mountPath: '/etc/nats/leafnode-tls', readOnly: true });
    const auth = secretText(objects, 'auth.conf');
    expect(auth).toContain('user: "link-west"');
    expect(auth).toContain('"$JS.east.API.CONSUMER.CREATE.MESHBUS_EXPORTS"');
    expect(secretText(objects, 'link-west')).toBe('test-link-password-west');
    const leaf = find(objects, 'Service', 'meshbus-nats-leafnodes');
    expect(leaf.spec).toMatchObject({ type: 'LoadBalancer', ports: [{ port: 7422, targetPort: 'leafnodes' }], loadBalancerSourceRanges: ['198.51.100.0/24'] });
    const nats = find(objects, 'StatefulSet', 'meshbus-nats').spec.template.spec.containers[0];
    expect(nats.ports).toContainEqual({ name: 'leafnodes', containerPort: 7422, protocol: 'TCP' });
    expect(envOf(objects, 'multicluster')).toMatchObject({ MESHBUS_CLUSTER_NAME: 'east', MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '203.0.113.7:4180', NATS_USER: 'multicluster' });
    expect(envOf(objects, 'multicluster')).not.toHaveProperty('MESHBUS_MULTICLUSTER_LINKS');
  });

  it('west: the leaf node remote with its login from the Secret the operator created, and the link stream permissions', () => {
    const objects = renderMc(west);
    const conf = natsConf(objects);
    expect(conf).toContain('domain: west');
    expect(conf).toContain('leafnodes {\n  remotes = [\n    {\n      url: $MESHBUS_LINK_EAST_URL\n      tls {\n        ca_file: "/etc/nats/links/east/ca.crt"\n      }\n    }\n  ]\n}');
    expect(conf).not.toContain('listen: "0.0.0.0');
    const natsPod = find(objects, 'StatefulSet', 'meshbus-nats').spec.template.spec;
    // By default the CA is in the Secret the operator created for the password, as ca.crt.
    expect(natsPod.volumes).toContainEqual({ name: 'link-east-ca', secret: { secretName: 'meshbus-link-east', defaultMode: 0o440, items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(natsPod.containers[0].volumeMounts).toContainEqual({ name: 'link-east-ca', mountPath: '/etc/nats/links/east', readOnly: true });
    expect(objects.some((o) => o.metadata.name === 'meshbus-nats-leafnode-tls')).toBe(false);
    const env = find(objects, 'StatefulSet', 'meshbus-nats').spec.template.spec.containers[0].env;
    expect(env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'MESHBUS_LINK_EAST_PASSWORD', valueFrom: { secretKeyRef: { name: 'meshbus-link-east', key: 'password' } } },
      { name: 'MESHBUS_LINK_EAST_URL', value: 'nats-leaf://link-west:$(MESHBUS_LINK_EAST_PASSWORD)@nats.east.example:7422' },
    ]);
    expect(objects.some((o) => o.metadata.name === 'meshbus-nats-leafnodes')).toBe(false);
    expect(secretText(objects, 'auth.conf')).toContain('"$JS.API.CONSUMER.CREATE.MESHBUS_LINK_EAST"');
    expect(envOf(objects, 'multicluster')).toMatchObject({ MESHBUS_CLUSTER_NAME: 'west', MESHBUS_MULTICLUSTER_LINKS: 'east' });
    // The stored values never hold a password.
    expect(find(objects, 'ConfigMap', valuesConfigMapName).data['values.yaml']).not.toMatch(/password/i);
  });

  it('runs the gateway as the proxy in gateway mode with the identity multicluster-gateway, and the service with least privilege', () => {
    const objects = renderMc({ ...east, multicluster: { ...east.multicluster, gateway: { ...east.multicluster!.gateway, allowedIdentities: ['*.serviceaccount.identity.meshbus.cluster.local'] } } });
    const gateway = find(objects, 'Deployment', 'meshbus-multicluster-gateway').spec.template.spec;
    expect(gateway.serviceAccountName).toBe('multicluster-gateway');
    expect(gateway.automountServiceAccountToken).toBe(false);
    expect(find(objects, 'ServiceAccount', 'multicluster-gateway').automountServiceAccountToken).toBe(false);
    expect(gateway.containers[0].args).toEqual(['proxy']);
    expect(envOf(objects, 'multicluster-gateway')).toMatchObject({
      MESHBUS_PROXY_MODE: 'gateway',
      MESHBUS_PROXY_GATEWAY_ADDR: '0.0.0.0:4180',
      MESHBUS_PROXY_GATEWAYS: 'meshbus-gateway.meshbus.svc.cluster.local:8086',
      MESHBUS_PROXY_GATEWAY_CA: '/var/run/meshbus/trust-anchors/ca.crt',
      MESHBUS_PROXY_TRUST_ANCHORS: '/var/run/meshbus/trust-anchors/ca.crt',
      MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: '*.serviceaccount.identity.meshbus.cluster.local',
      MESHBUS_PROXY_IDENTITY_TOKEN_FILE: '/var/run/secrets/meshbus.io/identity/token',
    });
    expect(gateway.volumes).toContainEqual({ name: 'identity-token', projected: { sources: [{ serviceAccountToken: { audience: 'identity.meshbus.io', expirationSeconds: 86400, path: 'token' } }] } });
    expect(find(objects, 'Service', 'meshbus-multicluster-gateway').spec).toMatchObject({ type: 'LoadBalancer', ports: [{ name: 'tunnel', port: 4180, targetPort: 'tunnel' }] });
    const service = find(objects, 'Deployment', 'meshbus-multicluster').spec.template.spec;
    expect(service.containers[0].args).toEqual(['serve', 'multicluster']);
    expect(service.securityContext.runAsUser).toBe(controlPlaneUid);
    expect(gateway.securityContext.runAsUser).toBe(2102);
    expect(service.containers[0].readinessProbe.httpGet).toMatchObject({ path: '/ready', port: 'admin' });
    expect(service.containers[0].ports).toEqual([{ name: 'admin', containerPort: 9994, protocol: 'TCP' }]);
    const rules = find(objects, 'ClusterRole', 'meshbus-multicluster').rules as { resources: string[]; verbs: string[] }[];
    expect(rules.flatMap((r) => r.verbs).every((verb) => ['get', 'list', 'watch'].includes(verb))).toBe(true);
    expect(rules.flatMap((r) => r.resources)).toEqual(expect.arrayContaining(['services', 'endpointslices']));
    expect(rules.flatMap((r) => r.resources)).not.toContain('secrets');
  });

  it('renders links and the listener in clear when TLS is turned off, and a link CA from another Secret', () => {
    const plain = renderMc({ multicluster: { ...east.multicluster, leafnode: { tls: { enabled: false } }, links: [{ cluster: 'north', url: 'nats://nats.north.example:7422', tls: { enabled: false } }] } });
    const conf = natsConf(plain);
    expect(conf).toContain('  # no TLS (multicluster.leafnode.tls.enabled: false): link passwords and exports cross in clear\n');
    expect(conf).toContain('    { url: $MESHBUS_LINK_NORTH_URL }\n');
    expect(conf).not.toContain('tls {');
    expect(plain.some((o) => o.metadata.name === 'meshbus-nats-leafnode-tls')).toBe(false);
    expect(JSON.stringify(find(plain, 'StatefulSet', 'meshbus-nats').spec.template.spec.volumes)).not.toMatch(/leafnode-tls|link-north-ca/);
    const other = renderMc({ multicluster: { ...west.multicluster, links: [{ cluster: 'east', url: 'tls://nats.east.example:7422', tls: { caSecret: { name: 'east-leaf-ca', key: 'root.pem' } } }] } });
    expect(find(other, 'StatefulSet', 'meshbus-nats').spec.template.spec.volumes).toContainEqual({
      name: 'link-east-ca',
      secret: { secretName: 'east-leaf-ca', defaultMode: 0o440, items: [{ key: 'root.pem', path: 'ca.crt' }] },
    });
  });

  it.each<[string, InstallValues]>([
    ['east', east],
    ['west', west],
  ])('%s matches testdata/install-multicluster-%s.golden.yaml', (name, values) => {
    const base = new Map(render().map((o) => [key(o), JSON.stringify(o)]));
    const changed = renderMc(values).filter((o) => base.get(key(o)) !== JSON.stringify(o));
    const path = fileURLToPath(new URL(`./testdata/install-multicluster-${name}.golden.yaml`, import.meta.url));
    const actual = formatObjects(changed, 'yaml');
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, actual);
    expect(actual).toBe(readFileSync(path, 'utf8'));
  });
});
