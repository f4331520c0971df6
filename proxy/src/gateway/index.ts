export { identityAllowed, parseAllowedIdentities, trustDomainAllowList, type IdentityAllowList } from './allow-list.js';
export { MAX_CONNECT_HEAD_BYTES, parseConnectHead, parseTunnelAuthority, type ConnectParse, type TunnelAuthority } from './connect-request.js';
export { MulticlusterGateway, TUNNEL_ALPN, type MulticlusterGatewayOptions, type TunnelResult } from './gateway.js';
export { DiscoveryResolver, NoTunnelEndpointError, TunnelNotFoundError, type DiscoveryResolverOptions, type TunnelEndpoint, type TunnelResolver } from './resolver.js';
