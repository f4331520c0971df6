/**
 * The name of a cluster of a multicluster mesh (`MESHBUS_CLUSTER_NAME`): a DNS
 * label of at most 32 characters, lower case, starting with a letter. It names
 * the cluster's JetStream domain, appears in subjects and NATS logins, and is
 * appended to mirrored services' names (`<service>-<cluster>`).
 */
const CLUSTER_NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function isClusterName(text: string): boolean {
  return CLUSTER_NAME.test(text);
}

/** What a cluster name must be, for error messages. */
export const clusterNameRule = "1 to 32 lower-case letters, digits and '-', starting with a letter and not ending with '-'";

/** The Service label that exports a service to linked clusters (value `"true"`). */
export const exportedServiceLabel = 'mirror.meshbus.io/exported';

/** The metric label naming the linked cluster a mirrored service lives in. */
export const mirrorClusterLabel = 'mirror.meshbus.io/cluster';
