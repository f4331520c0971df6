import { subjects, type Endpoint, type EndpointSet, type MirroredService, type ServiceProfileState } from '@meshbus/bus-schemas';
import { defaultWorkloadWeight, type ServiceProfile } from '@meshbus/manifests';
import { compareIp, mirrorClusterLabel } from '@meshbus/core';
import type { ResolvedDestinationOptions } from './options.js';
import { profileState } from './profiles.js';

export { mirrorClusterLabel };

/**
 * The endpoint sets of a service mirrored from a linked cluster, by subject:
 * one per port, whose endpoints are the linked cluster's gateway addresses,
 * each once.
 *
 * Each endpoint carries `gateway` (the linked cluster, the identity its
 * gateway presents, the authority the gateway resolves:
 * `<remoteService>.<namespace>.svc.<clusterDomain>:<port>`, with this
 * cluster's domain, which linked clusters share, and every identity the
 * remote workloads present). The proxy runs mesh TLS with the remote workload
 * inside the gateway's tunnel, with the identity the gateway names for the
 * workload it chose, which must be one of those. The endpoint's own identity
 * is the first of them, for readers that know nothing of gateways. A mirror
 * that is not ready, a port without ready endpoints, and a service whose
 * remote endpoints present no identity (none is meshed, so no mesh TLS can
 * run inside the tunnel) have an empty set: the service exists but has
 * nowhere to go, so that a split over it fails over.
 */
export function mirrorEndpointSets(mirror: MirroredService, options: ResolvedDestinationOptions): Map<string, EndpointSet> {
  const out = new Map<string, EndpointSet>();
  const identities = [...mirror.identities].sort();
  const identity = identities[0];
  const addresses = [...mirror.gateway.addresses].sort((a, b) => compareIp(a.address, b.address) || a.port - b.port);
  for (const port of mirror.ports) {
    const opaque = port.opaque ?? false;
    const endpoints: Endpoint[] = [];
    // Without an identity there is no mesh TLS to run inside the tunnel: nowhere to go.
    if (mirror.ready && port.ready > 0 && identity !== undefined) {
      const gateway = {
        cluster: mirror.cluster,
        identity: mirror.gateway.identity,
        authority: `${mirror.remoteService}.${mirror.namespace}.svc.${options.clusterDomain}:${port.port}`,
        identities,
      };
      for (const address of addresses) {
        endpoints.push({
          address: address.address,
          port: address.port,
          weight: defaultWorkloadWeight,
          labels: { [mirrorClusterLabel]: mirror.cluster },
          identity,
          protocolHint: opaque ? 'opaque' : 'h2',
          gateway,
        });
      }
    }
    out.set(subjects.endpoints(mirror.namespace, mirror.service, port.port), {
      namespace: mirror.namespace,
      service: mirror.service,
      port: port.port,
      ...(port.name !== undefined ? { portName: port.name } : {}),
      opaque,
      labels: { namespace: mirror.namespace, service: mirror.service, [mirrorClusterLabel]: mirror.cluster },
      endpoints,
    });
  }
  return out;
}

/**
 * The profile of a mirrored service: that of a local ServiceProfile naming
 * it (`<service>.<namespace>.svc.<clusterDomain>`), if any, with the mirror's
 * opaque ports added.
 */
export function mirrorProfile(mirror: MirroredService, profile: ServiceProfile | undefined): ServiceProfileState {
  const state = profileState({ namespace: mirror.namespace, service: mirror.service }, undefined, profile);
  const opaque = new Set(state.opaquePorts);
  for (const p of mirror.ports) if (p.opaque) opaque.add(p.port);
  return { ...state, opaquePorts: [...opaque].sort((a, b) => a - b) };
}
