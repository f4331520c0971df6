import type { destination, outbound } from '@meshbus/proxy-api';
import type { AddressTarget } from './destination-path.js';
import type { EndpointClaim } from './address-index.js';
import { endpointKey, toDestinationProfile, toIpAddress, toWeightedAddr } from './translate.js';
import { forwardPolicy } from './policy-translate.js';
import { endpointFingerprint, singleEndpointSnapshot, type EndpointSnapshot } from './endpoint-topic.js';

/** Weight of an address the gateway knows nothing about (the endpoint sets' default). */
export const defaultEndpointWeight = 10_000;

/** The proxy API form of an address the gateway knows nothing about: no identity, no hint, no labels. */
export function unknownAddr(address: AddressTarget): destination.WeightedAddr {
  return { addr: { ip: toIpAddress(address.ip), port: address.port }, weight: defaultEndpointWeight, metricLabels: {} };
}

/** The endpoint carries opaque TCP: its proxy says so (hint), or its service port is opaque (also when it has no proxy). */
export function claimIsOpaque(claim: EndpointClaim): boolean {
  return claim.opaque || claim.endpoint.protocolHint === 'opaque';
}

/** Labels of the set a lone endpoint is sent in: the namespace of its service (not the service: it was not asked for by name). */
export const endpointSetLabels = (claim: EndpointClaim): Record<string, string> => ({ namespace: claim.set.namespace });

/**
 * The Destination.Get answer for an address that is one endpoint: that
 * endpoint as Destination gives it in its service's set, with identity,
 * protocol hint and labels.
 */
export function endpointAddressSnapshot(version: number, claim: EndpointClaim): EndpointSnapshot {
  return singleEndpointSnapshot(version, endpointKey(claim.endpoint), toWeightedAddr(claim.endpoint), endpointFingerprint(claim.endpoint), endpointSetLabels(claim));
}

/** The Destination.Get answer for an address the gateway knows nothing about: that address alone, so the proxy forwards plain. */
export function unknownAddressSnapshot(version: number, address: AddressTarget): EndpointSnapshot {
  return singleEndpointSnapshot(version, `${address.ip}|${address.port}`, unknownAddr(address), 'unknown', {});
}

/**
 * The profile of an address that is one endpoint: no name, no routes, the
 * endpoint itself in `endpoint` (so the proxy connects there, with its
 * identity), and `opaque_protocol` when it carries opaque TCP.
 */
export function endpointProfile(claim: EndpointClaim): destination.DestinationProfile {
  return { ...unknownAddressProfile(), opaqueProtocol: claimIsOpaque(claim), endpoint: toWeightedAddr(claim.endpoint) };
}

/** The profile of an address the gateway knows nothing about: the defaults (retry budget), with neither name nor endpoint. */
export function unknownAddressProfile(): destination.DestinationProfile {
  return toDestinationProfile('', 0, undefined);
}

/** The outbound policy of an address that is one endpoint: forward to it, with its identity and hint. */
export function endpointForwardPolicy(claim: EndpointClaim): outbound.OutboundPolicy {
  const addr = toWeightedAddr(claim.endpoint);
  return forwardPolicy(addr.addr!, { addr, opaque: claimIsOpaque(claim) });
}
