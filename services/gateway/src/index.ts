export { envToConfig, type GatewayConfig } from './config.js';
export { createGateway, type Gateway, type GatewayOverrides } from './gateway-service.js';
export { parseDestinationPath, DestinationPathError, type ServiceTarget } from './destination-path.js';
export { DestinationIndex } from './destination-index.js';
export { WatchTopic, TopicWatch, type Snapshot, type StreamSink } from './watch-topic.js';
export { endpointSnapshot, endpointTransition, type EndpointSnapshot } from './endpoint-topic.js';
export { toIpAddress, toWeightedAddr, toDestinationProfile } from './translate.js';
export { destinationServiceDefinition } from './destination-server.js';
export { identityServiceDefinition, UndecodableCertifyRequest, type IdentityForwarder, type ReceivedCertifyRequest } from './identity-forwarder.js';
