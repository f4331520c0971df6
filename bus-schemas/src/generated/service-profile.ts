/* Generated from bus-schemas/schemas/service-profile.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The computed profile of one service: routes, retries, timeouts and traffic split. Published as state.
 */
export interface ServiceProfileState {
  namespace: string;
  service: string;
  routes: ProfileRoute[];
  retryBudget?: RetryBudget;
  /**
   * Traffic split: each authority receives weight / sum(weights) of the requests.
   */
  dstOverrides: WeightedDst[];
  opaquePorts: number[];
}
export interface ProfileRoute {
  name: string;
  condition: RequestMatch;
  responseClasses?: ResponseClass[];
  isRetryable?: boolean;
  timeoutMs?: number;
}
export interface RequestMatch {
  all?: RequestMatch[];
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
  all?: ResponseMatch[];
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
  authority: string;
  weight: number;
}
