import type { DefaultInboundPolicy } from '@meshbus/manifests';

/** Cluster-wide settings of the policy computation (from the policy service's configuration). */
export interface PolicySettings {
  /** e.g. `cluster.local`. */
  readonly clusterDomain: string;
  /** Suffix of every mesh identity, `identity.<control-namespace>.<trust-domain>`, e.g. `identity.meshbus.cluster.local`. */
  readonly identityDomain: string;
  /** The cluster default inbound policy. */
  readonly defaultPolicy: DefaultInboundPolicy;
  /** Networks the cluster's workloads live in (`cluster-*` policies admit clients from these), canonical CIDRs. */
  readonly clusterNetworks: readonly string[];
  /** Networks probes come from (kubelet; the host in local mode), canonical CIDRs. */
  readonly probeNetworks: readonly string[];
  /** How long a proxy waits to detect the protocol of a connection on a port with protocol `unknown`. */
  readonly detectTimeoutMs: number;
}

/** Every IPv4 and IPv6 address. */
export const allNetworks: readonly string[] = ['0.0.0.0/0', '::/0'];
