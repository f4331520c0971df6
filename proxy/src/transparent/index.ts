export {
  proxyInitConfig,
  proxyInitPlan,
  proxyInitRemovalPlan,
  planToShell,
  parsePortRange,
  ProxyInitConfigError,
  INBOUND_CHAIN,
  OUTBOUND_CHAIN,
  DEFAULT_INBOUND_PORT,
  DEFAULT_OUTBOUND_PORT,
  type ProxyInitOptions,
  type ProxyInitConfig,
  type PortRange,
  type IptablesStep,
  type IptablesFamily,
} from './proxy-init.js';
export { applyIptablesPlan, iptablesCommands, IptablesError, type ApplyOptions, type IptablesMode } from './iptables-applier.js';
export { runProxyInit, proxyInitCommand, PROXY_INIT_EXIT, PROXY_INIT_USAGE, type ProxyInitCommand, type ProxyInitIo } from './proxy-init-main.js';
export { originalDestination, parseSockaddr, socketDescriptor, OriginalDestinationError, type OriginalDestination } from './original-destination.js';
export {
  createPodNetwork,
  netnsUnavailableReason,
  removeLeftoverNamespaces,
  runCommand,
  mustRun,
  NETNS_PREFIX,
  type Pod,
  type PodNetwork,
  type PodNetworkOptions,
  type PodProcess,
  type PodProcessOptions,
  type CommandResult,
} from './netns-testing.js';
