import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, errorMessage } from '@meshbus/runtime';
import { WorkloadTokenValidator, type TokenValidator } from '@meshbus/trust';

/** How the destination checks the tokens of registration requests. */
export type RegistrationAuthConfig =
  /** Local mode: workload tokens signed with the control plane's token key (as identity checks them). */
  | { readonly kind: 'local'; readonly tokenPublicKeyFile: string; readonly tokenAudience: string }
  /** Cluster mode: Kubernetes TokenReview of service-account tokens. */
  | { readonly kind: 'kubernetes'; readonly tokenAudiences: readonly string[]; readonly kubeconfig?: string }
  /** No token key configured: every registration request is answered RegistrationDisabled. */
  | { readonly kind: 'disabled' };

/** Builds the token validator of `config`; undefined when registration is disabled. Throws {@link ConfigError}. */
export async function createRegistrationTokenValidator(config: RegistrationAuthConfig): Promise<TokenValidator | undefined> {
  switch (config.kind) {
    case 'disabled':
      return undefined;
    case 'local': {
      let pem: string;
      try {
        pem = await readFile(config.tokenPublicKeyFile, 'utf8');
      } catch (error) {
        throw new ConfigError(`MESHBUS_TOKEN_PUBLIC_KEY ${config.tokenPublicKeyFile} cannot be read: ${errorMessage(error)}`);
      }
      try {
        return new WorkloadTokenValidator({ publicKey: createPublicKey(pem), audience: config.tokenAudience });
      } catch (error) {
        throw new ConfigError(`MESHBUS_TOKEN_PUBLIC_KEY ${config.tokenPublicKeyFile} is not a PEM public key: ${errorMessage(error)}`);
      }
    }
    case 'kubernetes': {
      // Loaded only in cluster mode: the Kubernetes client is large.
      const [{ KubeConfig }, { TokenReviewValidator }] = await Promise.all([import('@kubernetes/client-node'), import('@meshbus/trust/kubernetes')]);
      const kubeConfig = new KubeConfig();
      if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
      else kubeConfig.loadFromCluster();
      return new TokenReviewValidator({ kubeConfig, audiences: config.tokenAudiences });
    }
  }
}
