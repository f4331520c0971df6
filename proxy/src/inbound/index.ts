/*
 * Inbound authorization of the proxy: connections and requests on the
 * workload's ports, per the inbound.Server WatchPort sends. See docs/proxy-inbound.md.
 */
export {
  authorize,
  authorizeConnection,
  authorizeRequest,
  describeClient,
  identitySuffixMatches,
  serverRoutes,
  type AuthorizationRef,
  type ConnectionDecision,
  type ConnectionFacts,
  type InboundRouteRef,
  type MatchedRule,
  type RequestDecision,
} from './authorize.js';
export { clientIdHeader, proxyOnlyRequestHeaders, withClientId } from './client-id.js';
export { applyGrpcFilters, applyHttpFilters, grpcFailureResponse, httpFailureResponse, redirectResponse, type FilterOutcome, type HeaderMap, type RequestTarget } from './filters.js';
export { describeRef, isDefault, policyRef, refLabels, type PolicyRef } from './metadata.js';
export { clientNetworkAdmits, compileClientNetwork, compileNetwork, networkContains, parseClientAddress, type ClientAddress, type CompiledClientNetwork, type CompiledNetwork } from './networks.js';
export { HttpLocalRateLimiter, rateLimitedResponse, serverRateLimit, type RateLimitDecision, type RateLimiterOptions, type RateLimitKind } from './rate-limit.js';
export { encodeGrpcMessage, errorResponse, GrpcStatus, isGrpcRequest, refusalResponse, type ProxyResponse } from './responses.js';
