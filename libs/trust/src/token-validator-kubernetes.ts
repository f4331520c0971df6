import { AuthenticationV1Api, type KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import { errorMessage } from '@meshbus/core';
import { isDnsLabel } from '@meshbus/core';
import { TokenRejectedError, TokenReviewUnavailableError, type ServiceAccountRef, type TokenValidator } from './token-validator.js';

/** Options of {@link TokenReviewValidator}. */
export interface TokenReviewValidatorOptions {
  readonly kubeConfig: KubeConfig;
  /**
   * Audiences the token must be issued for; the API server must confirm one of them.
   * @default ['identity.meshbus.io']
   */
  readonly audiences?: readonly string[];
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Cluster mode: asks the Kubernetes API server about the token (TokenReview,
 * authentication.k8s.io/v1). The token must be authenticated, for one of the audiences, and
 * belong to a service account (`system:serviceaccount:<ns>:<sa>`).
 */
export class TokenReviewValidator implements TokenValidator {
  private readonly api: AuthenticationV1Api;
  private readonly audiences: readonly string[];

  constructor(options: TokenReviewValidatorOptions) {
    this.api = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.audiences = options.audiences ?? ['identity.meshbus.io'];
  }

  async validate(token: Uint8Array): Promise<ServiceAccountRef> {
    let text: string;
    try {
      text = decoder.decode(token).trim();
    } catch {
      throw new TokenRejectedError('token is not UTF-8 text');
    }
    if (text === '') throw new TokenRejectedError('token is empty');
    const body: V1TokenReview = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: text, audiences: [...this.audiences] },
    };
    let review: V1TokenReview;
    try {
      review = await this.api.createTokenReview({ body });
    } catch (error) {
      throw new TokenReviewUnavailableError(`token review failed: ${describeApiError(error)}`, { cause: error });
    }
    const status = review.status;
    if (status?.authenticated !== true) {
      throw new TokenRejectedError(`token is not authenticated${status?.error ? `: ${status.error}` : ''}`);
    }
    // An empty audience list means the token is for the API server itself, not for us.
    const confirmed = status.audiences ?? [];
    if (!confirmed.some((audience) => this.audiences.includes(audience))) {
      throw new TokenRejectedError(`token is not for audience ${this.audiences.join(' or ')}`);
    }
    const username = status.user?.username ?? '';
    if (!username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
      throw new TokenRejectedError(`token belongs to ${JSON.stringify(username)}, not to a service account`);
    }
    const [namespace = '', serviceAccount = '', ...rest] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (rest.length > 0 || !isDnsLabel(namespace) || !isDnsLabel(serviceAccount)) {
      throw new TokenRejectedError(`token user ${JSON.stringify(username)} is not system:serviceaccount:<namespace>:<name>`);
    }
    return { namespace, serviceAccount };
  }
}

/** A short description of a failed Kubernetes API call: HTTP status and the Status message when there is one. */
export function describeApiError(error: unknown): string {
  const { code, body } = error as { code?: unknown; body?: unknown };
  if (typeof code === 'number') {
    let detail = '';
    if (typeof body === 'string') {
      try {
        const status = JSON.parse(body) as { message?: unknown };
        if (typeof status.message === 'string') detail = status.message;
      } catch {
        detail = body.slice(0, 200);
      }
    } else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
      detail = (body as { message: string }).message;
    }
    return `HTTP ${code}${detail ? `: ${detail}` : ''}`;
  }
  return errorMessage(error);
}
