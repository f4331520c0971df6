/*
 * The meshbus data-plane proxy. See docs/proxy.md.
 */
export { Proxy, proxyProcessConfig, proxyVersion, type ProxyOptions, type ProxyOverrides } from './proxy.js';
export { proxyConfigFromEnv, PROXY_DEFAULTS, type ProxyConfig } from './control/index.js';
export { tracingConfigFromEnv, traceServiceName, type TracingConfig } from './tracing/index.js';
export { runProxyProcess, PROXY_PROCESS_EXIT, type ProxyProcessIo } from './main.js';
export { runProxyInit, PROXY_INIT_EXIT, PROXY_INIT_USAGE, type ProxyInitIo } from './transparent/proxy-init-main.js';
export { createPodNetwork, netnsUnavailableReason, type Pod, type PodNetwork, type PodProcess } from './transparent/netns-testing.js';
export { TapClient, signHello, type TapClientOptions, type TapRequestRecord } from './tap/index.js';
