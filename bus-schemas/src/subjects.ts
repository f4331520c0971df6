import { MeshbusError } from '@meshbus/runtime';
import { subjectPrefix } from './catalog.js';

/** A subject or subject token is not acceptable. */
export class SubjectError extends MeshbusError {
  override name = 'SubjectError';
  constructor(message: string) {
    super('InvalidSubject', message);
  }
}

const tokenPattern = /^[A-Za-z0-9_-]{1,253}$/;

function token(value: string | number, what: string): string {
  const s = String(value);
  if (!tokenPattern.test(s)) throw new SubjectError(`${what} ${JSON.stringify(s)} cannot be a subject token (letters, digits, '-' and '_' only)`);
  return s;
}

/** Builders for every concrete subject, so that no code assembles subjects by hand. */
export const subjects = {
  endpoints: (namespace: string, service: string, port: number) =>
    `${subjectPrefix}.state.endpoints.${token(namespace, 'namespace')}.${token(service, 'service')}.${token(port, 'port')}`,
  allEndpoints: `${subjectPrefix}.state.endpoints.>`,
  profile: (namespace: string, service: string) =>
    `${subjectPrefix}.state.profiles.${token(namespace, 'namespace')}.${token(service, 'service')}`,
  allProfiles: `${subjectPrefix}.state.profiles.>`,
  workload: (namespace: string, name: string) =>
    `${subjectPrefix}.state.workloads.${token(namespace, 'namespace')}.${token(name, 'name')}`,
  allWorkloads: `${subjectPrefix}.state.workloads.>`,
  manifestRejected: `${subjectPrefix}.events.manifest.rejected`,
  publishFailed: `${subjectPrefix}.events.publish.failed`,
  leader: (role: string) => `${subjectPrefix}.events.leader.${token(role, 'role')}`,
  workloadExpired: `${subjectPrefix}.events.workload.expired`,
  certify: `${subjectPrefix}.identity.certify`,
  /** Requests to the destination replicas (NATS services API `meshbus-destination`). */
  workloadRegister: `${subjectPrefix}.rpc.workloads.register`,
  workloadHeartbeat: `${subjectPrefix}.rpc.workloads.heartbeat`,
  workloadDeregister: `${subjectPrefix}.rpc.workloads.deregister`,
  /**
   * Where a standby destination replica forwards a workload request it validated: only the
   * current leader subscribes. Not for workloads (their permissions stop at `rpc.workloads.*`).
   */
  destinationLeader: (operation: 'register' | 'heartbeat' | 'deregister') => `${subjectPrefix}.rpc.destination.leader.${operation}`,
  trustBundle: `${subjectPrefix}.state.trust-bundle.current`,
  certificateIssued: `${subjectPrefix}.events.identity.certificate-issued`,
  issuerUpdated: `${subjectPrefix}.events.identity.issuer-updated`,
  issuerRefused: `${subjectPrefix}.events.identity.issuer-refused`,
  allIdentityEvents: `${subjectPrefix}.events.identity.>`,
  inboundPolicy: (namespace: string, workload: string) =>
    `${subjectPrefix}.state.inbound-policy.${token(namespace, 'namespace')}.${token(workload, 'workload')}`,
  allInboundPolicies: `${subjectPrefix}.state.inbound-policy.>`,
  outboundPolicy: (namespace: string, service: string, port: number) =>
    `${subjectPrefix}.state.outbound-policy.${token(namespace, 'namespace')}.${token(service, 'service')}.${token(port, 'port')}`,
  allOutboundPolicies: `${subjectPrefix}.state.outbound-policy.>`,
  policyDefaults: `${subjectPrefix}.state.policy-defaults.cluster`,
  policyStatus: (namespace: string, kind: string, name: string) =>
    `${subjectPrefix}.state.policy-status.${token(namespace, 'namespace')}.${token(kind, 'kind')}.${token(name, 'name')}`,
  allPolicyStatus: `${subjectPrefix}.state.policy-status.>`,
  policyRejected: `${subjectPrefix}.events.policy.rejected`,
  /** One admission answered by the injector, by its result. */
  podInjection: (result: 'injected' | 'skipped' | 'refused') => `${subjectPrefix}.events.injector.pod.${token(result, 'result')}`,
  allPodInjections: `${subjectPrefix}.events.injector.pod.*`,
  /** Traffic summaries of the proxies of one workload (namespace and service account of their identity). */
  metricsSummary: (namespace: string, workload: string) =>
    `${subjectPrefix}.metrics.${token(namespace, 'namespace')}.${token(workload, 'workload')}`,
  /** Every traffic summary: `metricsOf('shop')` for a namespace, `metricsOf('shop', 'web')` for a workload. */
  metricsOf: (namespace?: string, workload?: string) =>
    `${subjectPrefix}.metrics.${namespace === undefined ? '*' : token(namespace, 'namespace')}.${workload === undefined ? '*' : token(workload, 'workload')}`,
  /** Tap requests for one workload (namespace and service account). */
  tapRequest: (namespace: string, workload: string) =>
    `${subjectPrefix}.tap.requests.${token(namespace, 'namespace')}.${token(workload, 'workload')}`,
  /** Every tap request, as a gateway subscribes. */
  allTapRequests: `${subjectPrefix}.tap.requests.*.*`,
  /** The records of one tap session. */
  tapEvents: (sessionId: string) => `${subjectPrefix}.tap.events.${token(sessionId, 'sessionId')}`,
  /** A service this cluster exports to linked clusters (stream MESHBUS_EXPORTS). */
  serviceExport: (namespace: string, service: string) =>
    `${subjectPrefix}.exports.services.${token(namespace, 'namespace')}.${token(service, 'service')}`,
  allServiceExports: `${subjectPrefix}.exports.services.>`,
  /** The heartbeat of a cluster's multicluster gateway (stream MESHBUS_EXPORTS). */
  clusterGateway: (cluster: string) => `${subjectPrefix}.exports.gateways.${token(cluster, 'cluster')}`,
  allClusterGateways: `${subjectPrefix}.exports.gateways.*`,
  allExports: `${subjectPrefix}.exports.>`,
  /** A linked cluster's service as mirrored here. */
  mirroredService: (namespace: string, service: string) =>
    `${subjectPrefix}.state.mirrors.${token(namespace, 'namespace')}.${token(service, 'service')}`,
  allMirroredServices: `${subjectPrefix}.state.mirrors.>`,
  /** A failover route's rule failed over or came back. */
  policyFailoverChanged: (namespace: string, route: string) => `${subjectPrefix}.events.policy.failover.${token(namespace, 'namespace')}.${token(route, 'route')}`,
  linkChanged: (cluster: string) => `${subjectPrefix}.events.multicluster.link.${token(cluster, 'cluster')}`,
  allState: `${subjectPrefix}.state.>`,
  allEvents: `${subjectPrefix}.events.>`,
  /** Every traffic summary, in MESHBUS_METRICS. */
  allMetrics: `${subjectPrefix}.metrics.>`,
} as const;

/** NATS services API names and queue groups of the request/reply responders. */
export const busServices = {
  destination: { name: 'meshbus-destination', queue: 'meshbus-destination' },
  identity: { name: 'meshbus-identity', queue: 'meshbus-identity' },
} as const;

/** Splits a state subject into its kind and key tokens, e.g. `endpoints`, [`ns`, `svc`, `80`]. */
export function parseStateSubject(subject: string): { kind: string; key: string[] } | undefined {
  const prefix = `${subjectPrefix}.state.`;
  if (!subject.startsWith(prefix)) return undefined;
  const [kind, ...key] = subject.slice(prefix.length).split('.');
  if (!kind) return undefined;
  return { kind, key };
}
