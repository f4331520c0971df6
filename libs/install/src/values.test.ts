import { describe, expect, it } from 'vitest';
import { composeValues } from './plan.js';
import { InstallValuesError, mergeValues, parseSetValues, parseValuesYaml, resolveValues, validateValues } from './values.js';

describe('--set', () => {
  it('types values by the schema, as Helm does for simple cases', () => {
    expect(parseSetValues('ha=true,streamReplicas=3,logLevel=debug')).toEqual({ ha: true, streamReplicas: 3, logLevel: 'debug' });
    expect(parseSetValues('image.tag=1.10')).toEqual({ image: { tag: '1.10' } });
    expect(parseSetValues('imagePullSecrets={regcred,other}')).toEqual({ imagePullSecrets: ['regcred', 'other'] });
    expect(parseSetValues('components.gateway.replicas=5,components.gateway.resources.limits.memory=1Gi')).toEqual({
      components: { gateway: { replicas: 5, resources: { limits: { memory: '1Gi' } } } },
    });
    expect(parseSetValues('identity.issuer.external=true')).toEqual({ identity: { issuer: { external: true } } });
    expect(parseSetValues('nats.url=null')).toEqual({ nats: { url: null } });
  });

  it.each<[string, string, string]>([
    ['ha=maybe', 'ha', 'ha: must be true or false, got "maybe"'],
    ['streamReplicas=three', 'streamReplicas', 'streamReplicas: must be a number, got "three"'],
    ['nats.replicaz=3', 'nats.replicaz', 'nats.replicaz: is not a known value'],
    ['nats=x', 'nats', 'nats: is a mapping: set its keys one by one (key.child=value)'],
    ['logLevel', '', '--set "logLevel" must be key=value'],
    ['a..b=1', 'a..b', 'a..b: has an empty key segment'],
  ])('refuses %s, naming the key', (assignment, key, message) => {
    let error: unknown;
    try {
      parseSetValues(assignment);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InstallValuesError);
    expect((error as InstallValuesError).message).toBe(message);
    expect((error as InstallValuesError).key).toBe(key);
  });
});

describe('values', () => {
  it('refuses a value the schema does not allow, naming the key and the source', () => {
    expect(() => validateValues({ webhook: { failurePolicy: 'Sometimes' } }, 'prod.yaml')).toThrow('webhook.failurePolicy: must be one of "Ignore", "Fail" (in prod.yaml)');
    expect(() => validateValues({ namespace: 'Mesh_System' })).toThrow(/^namespace: does not have the right form/);
    expect(() => validateValues({ nats: { url: 'http://x' } })).toThrow(/^nats\.url: does not have the right form/);
    expect(() => validateValues({ components: { gateway: { replicas: -1 } } })).toThrow('components.gateway.replicas: must be >= 0 (in values)');
    expect(() => validateValues({ components: { proxy: {} } })).toThrow('components.proxy: is not a known value (in values)');
  });

  it('reads a values file, naming it when it is not YAML or not a mapping', () => {
    expect(parseValuesYaml('ha: true\nnats:\n  storage:\n    size: 20Gi\n', 'a.yaml')).toEqual({ ha: true, nats: { storage: { size: '20Gi' } } });
    expect(parseValuesYaml('', 'empty.yaml')).toEqual({});
    expect(() => parseValuesYaml('- a\n- b\n', 'list.yaml')).toThrow('list.yaml must hold a mapping of values');
    expect(() => parseValuesYaml('a: [\n', 'broken.yaml')).toThrow(/^broken\.yaml is not YAML/);
    expect(() => parseValuesYaml('logLevel: loud\n', 'b.yaml')).toThrow(/logLevel: must be one of .* \(in b\.yaml\)/);
  });

  it('merges mappings key by key; lists and scalars replace; null removes', () => {
    expect(mergeValues({ ha: true, nats: { url: 'nats://a:4222', image: 'nats:2' }, imagePullSecrets: ['a'] }, { nats: { url: null as never }, imagePullSecrets: ['b'] })).toEqual({
      ha: true,
      nats: { image: 'nats:2' },
      imagePullSecrets: ['b'],
    });
  });

  it('layers stored values, files, --set and flags in that order', () => {
    const values = composeValues({
      stored: { ha: true, logLevel: 'warn', nats: { url: 'nats://old:4222' } },
      files: [
        { source: 'one.yaml', text: 'logLevel: debug\nstreamReplicas: 2\n' },
        { source: 'two.yaml', text: 'streamReplicas: 4\n' },
      ],
      sets: ['streamReplicas=5', 'trustDomain=example.org'],
      flags: { nats: { url: 'nats://new:4222' } },
    });
    expect(values).toEqual({ ha: true, logLevel: 'debug', streamReplicas: 5, trustDomain: 'example.org', nats: { url: 'nats://new:4222' } });
  });

  it('derives the HA defaults from ha, unless a value is given', () => {
    expect(resolveValues({}, '1.2.3')).toMatchObject({ streamReplicas: 1, webhook: { failurePolicy: 'Ignore' }, image: { tag: '1.2.3' }, components: { gateway: { replicas: 1 } } });
    expect(resolveValues({ ha: true }, '1.2.3')).toMatchObject({ streamReplicas: 3, webhook: { failurePolicy: 'Fail' }, components: { identity: { replicas: 3 } } });
    expect(resolveValues({ ha: true, streamReplicas: 1, components: { identity: { replicas: 2 } } }, '1')).toMatchObject({ streamReplicas: 1, components: { identity: { replicas: 2 }, policy: { replicas: 3 } } });
    expect(resolveValues({ image: { repository: 'registry.example/meshbus' } }, '1').injector.proxyImage).toBe('registry.example/meshbus');
    expect(resolveValues({ image: { repository: 'registry.example/meshbus' }, injector: { proxyImage: 'registry.example/proxy' } }, '1').injector.proxyImage).toBe('registry.example/proxy');
  });
});

describe('multicluster values', () => {
  const valid = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], links: [{ cluster: 'north', url: 'nats-leaf://nats.north.example:7422' }], gateway: { addresses: ['203.0.113.7:4180', '[2001:db8::7]:4180'] } } };

  it('accepts a cluster that exports and mirrors, and fills in the defaults', () => {
    expect(validateValues(valid)).toBe(valid);
    const mc = resolveValues(valid, '0.1.0').multicluster!;
    expect(mc).toMatchObject({ clusterName: 'east', exportTo: ['west'], replicas: 1, heartbeatInterval: '2s', grace: '30s', leafnode: { port: 7422, serviceType: 'LoadBalancer' }, gateway: { serviceType: 'LoadBalancer', replicas: 1 } });
    expect(mc.links).toEqual([
      { cluster: 'north', url: 'nats-leaf://nats.north.example:7422', passwordSecret: { name: 'meshbus-link-north', key: 'password' }, tls: { caSecret: { name: 'meshbus-link-north', key: 'ca.crt' } } },
    ]);
    // TLS by default: the listener with the installation's certificate, each link checking it with the CA beside its password.
    expect(mc.leafnode.tls).toEqual({ hosts: [] });
    expect(resolveValues({ ...valid, ha: true }, '0.1.0').multicluster).toMatchObject({ replicas: 3, gateway: { replicas: 3 } });
    // Not enabled: nothing multicluster is resolved, whatever else is set.
    expect(resolveValues({ multicluster: { clusterName: 'east', exportTo: ['west'] } }, '0.1.0').multicluster).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['no cluster name', { enabled: true }, "multicluster.clusterName: is required when multicluster.enabled is true: this cluster's name"],
    ['a bad cluster name', { enabled: true, clusterName: 'East' }, 'multicluster.clusterName: does not have the right form'],
    ['an unknown key', { enabled: true, clusterName: 'east', leafnodes: {} }, 'multicluster.leafnodes: is not a known value'],
    ['a link without a URL', { enabled: true, clusterName: 'west', links: [{ cluster: 'east' }] }, 'multicluster.links.0.url: is required with the bundled NATS'],
    ['a link to itself', { enabled: true, clusterName: 'east', links: [{ cluster: 'east', url: 'nats-leaf://a:7422' }] }, 'multicluster.links.0.cluster: east is this cluster'],
    ['a link twice', { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://a:7422' }, { cluster: 'east', url: 'nats-leaf://b:7422' }] }, 'multicluster.links.1.cluster: east is listed twice'],
    ['a link URL with a login', { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://link-west:pw@a:7422' }] }, 'multicluster.links.0.url: does not have the right form'],
    ['a password in the values', { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://a:7422', password: 'pw' }] }, 'multicluster.links.0.password: is not a known value'],
    ['exporting to itself', { enabled: true, clusterName: 'east', exportTo: ['east'] }, 'multicluster.exportTo.0: east is this cluster'],
    ['a gateway address by name', { enabled: true, clusterName: 'east', gateway: { addresses: ['gw.example:4180'] } }, 'multicluster.gateway.addresses.0: "gw.example:4180" must be <ip>:<port>'],
    ['an empty identity list', { enabled: true, clusterName: 'east', gateway: { allowedIdentities: [] } }, 'multicluster.gateway.allowedIdentities: must NOT have fewer than 1 items'],
    ['a gateway address without a port', { enabled: true, clusterName: 'east', gateway: { addresses: ['203.0.113.7'] } }, 'multicluster.gateway.addresses.0'],
    ['a short grace', { enabled: true, clusterName: 'east', heartbeatInterval: '5s', grace: '10s' }, 'multicluster.grace: must be at least three heartbeat intervals (15000ms)'],
    ['a leaf node port out of range', { enabled: true, clusterName: 'east', leafnode: { port: 70000 } }, 'multicluster.leafnode.port: must be <= 65535'],
    ['a TLS link with a nats:// URL', { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats://a:7422' }] }, 'multicluster.links.0.url: nats://a:7422: a TLS link uses tls://<host>:<port> (or nats-leaf://)'],
    ['a leaf node host that is no name', { enabled: true, clusterName: 'east', leafnode: { tls: { hosts: ['Nats.East.example'] } } }, 'multicluster.leafnode.tls.hosts.0: "Nats.East.example" must be a DNS name (lower case) or an IP address'],
    ['an unknown leaf node TLS key', { enabled: true, clusterName: 'east', leafnode: { tls: { verify: true } } }, 'multicluster.leafnode.tls.verify: is not a known value'],
    ['a link CA Secret without a name', { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'tls://a:7422', tls: { caSecret: { name: 'Bad_Name' } } }] }, 'multicluster.links.0.tls.caSecret.name'],
  ])('refuses %s, naming the key', (_name, multicluster, message) => {
    expect(() => validateValues({ multicluster } as never, 'mc.yaml')).toThrow(message);
  });

  it('turns TLS off per link and for the listener, and takes the hosts the certificate names', () => {
    const mc = resolveValues(
      { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], leafnode: { tls: { enabled: false } }, links: [{ cluster: 'north', url: 'nats://a:7422', tls: { enabled: false } }] } },
      '0.1.0',
    ).multicluster!;
    expect(mc.leafnode.tls).toBeUndefined();
    expect(mc.links[0]!.tls).toBeUndefined();
    const hosts = ['nats.east.example', '203.0.113.9', '2001:db8::9'];
    expect(resolveValues({ multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], leafnode: { tls: { hosts } } } }, '0.1.0').multicluster!.leafnode.tls).toEqual({ hosts });
  });

  it('needs no leaf node URL with an external NATS, whose configuration is the operator\'s', () => {
    expect(() => validateValues({ nats: { url: 'nats://nats.example:4222' }, multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east' }] } })).not.toThrow();
  });

  it('takes multicluster values from --set', () => {
    expect(parseSetValues('multicluster.enabled=true,multicluster.clusterName=east,multicluster.exportTo={west,north},multicluster.leafnode.port=7500')).toEqual({
      multicluster: { enabled: true, clusterName: 'east', exportTo: ['west', 'north'], leafnode: { port: 7500 } },
    });
  });
});
