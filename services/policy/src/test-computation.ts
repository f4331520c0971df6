import type { InboundPolicy, OutboundPolicy, PolicyDefaults, PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type { Workload } from '@meshbus/manifests';
import { defaultInboundServer, inboundKey, outboundKey, statusKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult, type PolicySettings } from '@meshbus/policy';
import { canonicalJson } from '@meshbus/runtime';

/**
 * A small stand-in for the policy index, for the service's own tests: every
 * workload gets the cluster default server on each of its ports, every
 * Service port an outbound policy without routes, every Server a status; a
 * Server whose port is a name no selected workload could have (`invalid-*`)
 * is rejected. It recomputes everything and reports the keys whose value
 * changed, as the interface asks. `updates` counts the calls.
 */
export class TestPolicyComputation implements PolicyComputation {
  result: PolicyResult;
  updates = 0;

  constructor(private readonly settings: PolicySettings) {
    this.result = { defaults: this.defaults(), inbound: new Map(), outbound: new Map(), statuses: new Map(), rejected: [] };
  }

  update(inputs: PolicyInputs): PolicyChanges {
    this.updates++;
    const next = this.compute(inputs);
    const previous = this.result;
    this.result = next;
    return {
      defaults: canonicalJson(previous.defaults) !== canonicalJson(next.defaults),
      inbound: changedKeys(previous.inbound, next.inbound),
      outbound: changedKeys(previous.outbound, next.outbound),
      statuses: changedKeys(previous.statuses, next.statuses),
    };
  }

  private defaults(): PolicyDefaults {
    const s = this.settings;
    return { defaultPolicy: s.defaultPolicy, clusterNetworks: [...s.clusterNetworks], probeNetworks: [...s.probeNetworks], detectTimeoutMs: s.detectTimeoutMs, identityDomain: s.identityDomain, namespaces: [] };
  }

  private compute({ resources, registered }: PolicyInputs): PolicyResult {
    const workloads = new Map<string, Workload>();
    for (const w of registered) workloads.set(inboundKey(w.namespace, w.name), w);
    for (const w of resources.workloads) workloads.set(inboundKey(w.namespace, w.name), w);
    const server = defaultInboundServer(this.settings.defaultPolicy, this.settings);
    const inbound = new Map<string, InboundPolicy>();
    for (const [key, w] of workloads) {
      inbound.set(key, { namespace: w.namespace, workload: w.name, defaultPolicy: this.settings.defaultPolicy, ports: w.ports.map((p) => ({ port: p.port, server })), defaultServer: server });
    }
    const outbound = new Map<string, OutboundPolicy>();
    for (const svc of resources.services) {
      for (const p of svc.ports) {
        outbound.set(outboundKey(svc.namespace, svc.name, p.port), {
          namespace: svc.namespace,
          service: svc.name,
          port: p.port,
          metadata: { group: 'core', kind: 'Service', namespace: svc.namespace, name: svc.name, port: p.port },
          authority: `${svc.name}.${svc.namespace}.svc.${this.settings.clusterDomain}:${p.port}`,
          addresses: [...svc.clusterIPs],
          protocol: 'detect',
          detectTimeoutMs: this.settings.detectTimeoutMs,
          routes: { httpRoutes: [], grpcRoutes: [] },
          consumerRoutes: [],
        });
      }
    }
    const statuses = new Map<string, PolicyStatus>();
    const rejected: PolicyRejected[] = [];
    for (const s of resources.servers) {
      const invalid = typeof s.port === 'string' && s.port.startsWith('invalid-');
      const reason = `port ${String(s.port)} is not a port of any workload`;
      statuses.set(statusKey(s.namespace, 'Server', s.name), {
        apiVersion: s.apiVersion,
        kind: 'Server',
        namespace: s.namespace,
        name: s.name,
        file: s.file,
        accepted: !invalid,
        conditions: [{ type: 'Accepted', status: invalid ? 'False' : 'True', reason: invalid ? 'Invalid' : 'Accepted', message: invalid ? reason : 'accepted' }],
      });
      if (invalid) rejected.push({ file: s.file, kind: 'Server', namespace: s.namespace, name: s.name, reason, code: 'InvalidResource' });
    }
    return { defaults: this.defaults(), inbound, outbound, statuses, rejected };
  }
}

function changedKeys<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>): Set<string> {
  const out = new Set<string>();
  for (const [key, value] of after) if (!before.has(key) || canonicalJson(before.get(key)) !== canonicalJson(value)) out.add(key);
  for (const key of before.keys()) if (!after.has(key)) out.add(key);
  return out;
}
