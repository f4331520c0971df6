export { isTlsClientHello, peekClientHello, type ClientHelloPeek } from './client-hello.js';
export { MeshTlsError, MeshTlsErrorCode } from './errors.js';
export {
  MESH_CLIENT_ALPN,
  MESH_SERVER_ALPN,
  MeshTls,
  type AcceptedConnection,
  type CertificateSource,
  type MeshClientTarget,
  type MeshConnectOptions,
  type MeshTlsEvents,
  type MeshTlsOptions,
} from './mesh-tls.js';
export { certificateDnsNames, certificateIdentity, clientIdentity, peerIdentity, type PeerIdentity } from './peer-identity.js';
export {
  MAX_CONNECT_RESPONSE_HEAD,
  TUNNEL_ALPN,
  TunnelError,
  TunnelErrorCode,
  connectRequest,
  connectTunnel,
  innerIdentity,
  parseConnectResponse,
  requestTunnel,
  type ConnectResponse,
  type TunnelOpened,
  type TunnelTarget,
} from './tunnel.js';
