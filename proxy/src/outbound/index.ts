/**
 * Outbound routing and load balancing as the proxy applies an
 * OutboundPolicy and Destination endpoints. Pure: the clock, the random
 * source and timers are injected. See docs/proxy-outbound.md.
 */
export { durationMs, type Environment } from './durations.js';
export { backoffDelay, defaultBackoff, parseRetryAfter, toBackoff, type Backoff } from './backoff.js';
export { defaultLoad, defaultQueue, toBackendTarget, type BackendTarget, type LoadConfig, type QueueConfig } from './backend-target.js';
export { chooseBackend, toDistribution, weightedIndex, type Distribution, type NoBackend, type RouteBackend } from './backend-choice.js';
export {
  decideRetry,
  defaultMaxRequestBytes,
  defaultRetryBudget,
  grpcConditionCodes,
  grpcRetryCodes,
  isRetryable,
  RetryBudget,
  toGrpcRetry,
  toHttpRetry,
  toRetryBudgetConfig,
  type AttemptResult,
  type RetryBudgetConfig,
  type RetryCondition,
  type RetryDecision,
  type RetryPolicy,
} from './retry.js';
export {
  detectTimeoutMs,
  OutboundPolicyError,
  protocolConfig,
  routeGrpc,
  routeHttp,
  routeOpaque,
  routeRequest,
  type DetectedProtocol,
  type NoRoute,
  type ProtocolConfig,
  type RoutePlan,
  type RouteTimeouts,
} from './routing.js';
export {
  endpointKey,
  P2cBalancer,
  ServiceUnavailableError,
  toFailureAccrual,
  type Endpoint,
  type FailureAccrualConfig,
  type Lease,
  type Outcome,
  type P2cBalancerOptions,
  type Timers,
} from './p2c-balancer.js';
export { applyL5dRequestHeaders, l5dRequestHeaders, parseL5dDuration, type L5dAdjusted } from './l5d-headers.js';
export {
  compileProfile,
  failureStatusRanges,
  isFailure,
  profileInUse,
  profileRetryPolicy,
  profileRoute,
  requestMatches,
  responseMatches,
  type CompiledProfile,
  type ProfileRequest,
  type ProfileRoute,
} from './profile-routes.js';
