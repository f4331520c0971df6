import type { KeyObject } from 'node:crypto';
import { verifyWorkloadToken } from './workload-token.js';
import { TokenRejectedError, type ServiceAccountRef, type TokenValidator } from './token-validator.js';

/** Options of {@link WorkloadTokenValidator}. */
export interface WorkloadTokenValidatorOptions {
  /** The control plane's token verification key (P-256 or Ed25519). */
  readonly publicKey: KeyObject;
  /** The audience tokens must be issued for. @default 'identity.meshbus.io' */
  readonly audience?: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Local mode: verifies a signed workload token (see `createWorkloadToken`) with the control plane's key. */
export class WorkloadTokenValidator implements TokenValidator {
  private readonly audience: string;

  constructor(private readonly options: WorkloadTokenValidatorOptions) {
    this.audience = options.audience ?? 'identity.meshbus.io';
  }

  async validate(token: Uint8Array): Promise<ServiceAccountRef> {
    let text: string;
    try {
      text = decoder.decode(token).trim();
    } catch {
      throw new TokenRejectedError('token is not UTF-8 text');
    }
    return verifyWorkloadToken(text, this.options.publicKey, { audience: this.audience, now: this.options.now?.() ?? new Date() });
  }
}
