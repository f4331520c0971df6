/* Generated from bus-schemas/schemas/service-profile.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The computed profile of one service: routes, retries, timeouts and traffic split. Published as state.
 */
export interface ServiceProfileState {
  namespace: string;
  service: string;
  /**
   * @maxItems 1000
   */
  routes: ProfileRoute[];
  retryBudget?: RetryBudget;
  /**
   * Traffic split: each authority receives weight / sum(weights) of the requests.
   *
   * @maxItems 100
   */
  dstOverrides: WeightedDst[];
  /**
   * @maxItems 65535
   */
  opaquePorts: number[];
}
export interface ProfileRoute {
  name: string;
  condition: RequestMatch;
  /**
   * @maxItems 100
   */
  responseClasses?: ResponseClass[];
  isRetryable?: boolean;
  timeoutMs?: number;
}
export interface RequestMatch {
  /**
   * @maxItems 100
   */
  all?: RequestMatch[];
  /**
   * @maxItems 100
   */
  any?: RequestMatch[];
  not?: RequestMatch;
  pathRegex?: string;
  method?: string;
}
export interface ResponseClass {
  condition: ResponseMatch;
  isFailure: boolean;
}
export interface ResponseMatch {
  /**
   * @maxItems 100
   */
  all?: ResponseMatch[];
  /**
   * @maxItems 100
   */
  any?: ResponseMatch[];
  not?: ResponseMatch;
  status?: {
    min?: number;
    max?: number;
  };
}
export interface RetryBudget {
  retryRatio: number;
  minRetriesPerSecond: number;
  ttlMs: number;
}
export interface WeightedDst {
  /**
   * host:port, the host at most 253 characters.
   */
  authority: string;
  weight: number;
}
