export {
  PROXY_DEFAULTS,
  parsePortMapping,
  proxyConfigFromEnv,
  type AccessLogFormat,
  type GatewayTransport,
  type MulticlusterGatewayConfig,
  type PortMapping,
  type ProxyConfig,
  type StreamLimits,
  type TokenSource,
  type TapConfig,
  tapConfigFromEnv,
} from './config.js';
export { GatewayPool, gatewayChannelOptions, gatewayCredentials, type GatewayClients } from './gateway-pool.js';
export { DEFAULT_RECONNECT_BACKOFF, firstGatewayIndex, reconnectDelayMs, streamExpiry, streamLifetimeMs, type StreamClock, type StreamExpiry } from './schedule.js';
export { DEFAULT_STREAM_LIMITS, WatchStream, type ControlApi, type ReconnectReason, type WatchContext, type WatchEvents, type WatchObserver, type WatchSpec } from './watch-stream.js';
export {
  addressText,
  applyDestinationUpdate,
  emptyDestination,
  outboundTargetText,
  watchDestination,
  watchInboundPolicy,
  watchOutboundPolicy,
  watchProfile,
  type DestinationState,
  type DestinationWatch,
  type Endpoint,
  type InboundPolicyWatch,
  type OutboundPolicyState,
  type OutboundPolicyWatch,
  type OutboundTarget,
  type ProfileWatch,
} from './watches.js';
export { ControlClient, WatchHandle, controlClientFromConfig, type ControlClientOptions } from './control-client.js';
export { ControlMetrics, type CertificateSource } from './control-metrics.js';
export { ProxyAdmin, isLoopback, proxyReadiness, type ProxyAdminOptions, type ProxyReadinessSources } from './proxy-admin.js';
export { createCertificateClient, tokenProvider } from './identity.js';
