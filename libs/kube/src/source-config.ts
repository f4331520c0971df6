import { KubeConfig } from '@kubernetes/client-node';
import { resourceSourceEnv } from '@meshbus/install';
import { ConfigError, envRequired, envString, type Env } from '@meshbus/runtime';

/** Where a service reads mesh resources from. */
export type ResourceSourceConfig =
  /** A folder of manifests (`MESHBUS_MANIFESTS_DIR`). */
  | { readonly kind: 'manifests'; readonly directory: string }
  /** The Kubernetes API: the kubeconfig file named by `KUBECONFIG` (its first path), else the default (in-cluster) one. */
  | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };

/**
 * Reads `MESHBUS_RESOURCE_SOURCE` (`manifests`, the default, or
 * `kubernetes`); the manifests folder is required in manifests mode only.
 * Throws ConfigError naming the variable.
 */
export function resourceSourceFromEnv(env: Env): ResourceSourceConfig {
  const mode = envString(env, resourceSourceEnv, 'manifests');
  if (mode === 'manifests') return { kind: 'manifests', directory: envRequired(env, 'MESHBUS_MANIFESTS_DIR') };
  if (mode === 'kubernetes') {
    const kubeconfig = envString(env, 'KUBECONFIG')?.split(':').find((p) => p !== '');
    return kubeconfig === undefined ? { kind: 'kubernetes' } : { kind: 'kubernetes', kubeconfig };
  }
  throw new ConfigError(`${resourceSourceEnv} must be manifests or kubernetes, got ${JSON.stringify(mode)}`);
}

/** The client configuration of a Kubernetes source: the named kubeconfig file, or the default one (in a pod, its service account). */
export function loadKubeConfig(config: { readonly kubeconfig?: string }): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}
