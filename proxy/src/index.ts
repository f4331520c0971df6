/*
 * The meshbus data-plane proxy. See docs/proxy.md.
 */
export { Proxy, proxyProcessConfig, proxyVersion, type ProxyOptions, type ProxyOverrides } from './proxy.js';
export { proxyConfigFromEnv, PROXY_DEFAULTS, type ProxyConfig } from './control/index.js';
