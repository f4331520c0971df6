import { describe, expect, it } from 'vitest';
import { busValidator, type BusValidator } from '@meshbus/bus-schemas';
import { ManifestIndex } from '@meshbus/manifests';
import { createPolicyIndex, statusKey, type PolicySettings } from '@meshbus/policy';
import { ProblemAwareComputation } from './manifest-problems.js';

const settings: PolicySettings = {
  clusterDomain: 'cluster.local',
  identityDomain: 'identity.meshbus.cluster.local',
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['127.0.0.1/32'],
  detectTimeoutMs: 10_000,
};

const network = (cidr: string) => `
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: { name: office, namespace: shop }
spec:
  networks:
    - cidr: ${cidr}
`;

const service = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80 }]
`;

const key = statusKey('shop', 'NetworkAuthentication', 'office');

function setup() {
  const manifests = new ManifestIndex();
  const computation = new ProblemAwareComputation(createPolicyIndex(settings));
  const apply = (file: string, text: string) => {
    manifests.apply({ file, text });
    return computation.update({ resources: manifests.resources, registered: [], problems: manifests.problems });
  };
  return { manifests, computation, apply };
}

describe('ProblemAwareComputation', () => {
  it('gives a policy resource the manifests refused a status and a rejection, and takes them back once it is fixed', () => {
    const { computation, apply } = setup();
    const changes = apply('net.yaml', network('10.0.0.1/8'));
    expect(changes.statuses.has(key)).toBe(true);
    const status = computation.result.statuses.get(key)!;
    expect(status).toMatchObject({ kind: 'NetworkAuthentication', namespace: 'shop', name: 'office', file: 'net.yaml', accepted: false });
    expect(status.conditions[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'InvalidResource' });
    expect(status.conditions[0]!.message).toContain('10.0.0.0/8');
    const validator: BusValidator = busValidator();
    validator.check('policyStatus', status);
    expect(computation.result.rejected).toEqual([expect.objectContaining({ kind: 'NetworkAuthentication', name: 'office', file: 'net.yaml', code: 'InvalidResource' })]);

    // The same problem again changes nothing.
    expect(apply('net.yaml', network('10.0.0.1/8')).statuses.has(key)).toBe(false);

    // Fixed: the index's own status takes over.
    expect(apply('net.yaml', network('10.0.0.0/8')).statuses.has(key)).toBe(true);
    expect(computation.result.statuses.get(key)).toMatchObject({ accepted: true });
    expect(computation.result.rejected).toEqual([]);
  });

  it('says the latest version is refused while an earlier valid one stays in force', () => {
    const { computation, apply } = setup();
    apply('net.yaml', network('192.168.0.0/16'));
    expect(computation.result.statuses.get(key)).toMatchObject({ accepted: true });
    apply('net.yaml', network('192.168.0.1/16'));
    const status = computation.result.statuses.get(key)!;
    expect(status.accepted).toBe(false);
    expect(status.conditions[0]!.message).toMatch(/stays in force|previous/);
  });

  it('leaves problems of other kinds, and files, to the manifest events', () => {
    const { computation, apply } = setup();
    apply('web.yaml', service.replace('port: 80', 'port: 0'));
    apply('broken.yaml', 'kind: [');
    expect(computation.result.rejected).toEqual([]);
    expect([...computation.result.statuses.keys()]).toEqual([]);
  });
});
