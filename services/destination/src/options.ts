import { identityName } from '@meshbus/core';

/** Options of {@link computeDestinationState}. */
export interface DestinationOptions {
  /** Namespace of the meshbus control plane; part of every workload identity. */
  controlNamespace: string;
  /** Trust domain of the mesh; the last part of every workload identity. */
  trustDomain: string;
  /** Port of the inbound proxy listener that receives opaque traffic. @default 4143 */
  inboundProxyPort?: number;
  /** DNS suffix of services: a ServiceProfile is named `<service>.<namespace>.svc.<clusterDomain>`. @default 'cluster.local' */
  clusterDomain?: string;
}

/** {@link DestinationOptions} with every default applied. */
export type ResolvedDestinationOptions = Required<DestinationOptions>;

/** Applies the defaults of {@link DestinationOptions}. */
export function resolveDestinationOptions(options: DestinationOptions): ResolvedDestinationOptions {
  return {
    controlNamespace: options.controlNamespace,
    trustDomain: options.trustDomain,
    inboundProxyPort: options.inboundProxyPort ?? 4143,
    clusterDomain: options.clusterDomain ?? 'cluster.local',
  };
}

/** The TLS identity of a meshed workload: `<sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>`. */
export function workloadIdentity(serviceAccount: string, namespace: string, options: Pick<DestinationOptions, 'controlNamespace' | 'trustDomain'>): string {
  return identityName({ serviceAccount, namespace, controlNamespace: options.controlNamespace, trustDomain: options.trustDomain });
}
