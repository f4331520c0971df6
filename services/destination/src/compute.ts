import { subjects, type EndpointSet, type MirroredService, type ServiceProfileState, type WorkloadRegistration } from '@meshbus/bus-schemas';
import type { EndpointSlice, MeshResources, ServiceProfile, Workload } from '@meshbus/manifests';
import { endpointSet } from './endpoints.js';
import { mirrorEndpointSets, mirrorProfile } from './mirrors.js';
import { resolveDestinationOptions, type DestinationOptions } from './options.js';
import { opaqueServicePorts, profileState } from './profiles.js';
import { mergeWorkloads } from './workloads.js';

/** What the destination service publishes, keyed by bus subject, in subject order. */
export interface DestinationState {
  /** One endpoint set per TCP port of every Service. */
  readonly endpointSets: Map<string, EndpointSet>;
  /** One profile per Service, and one per ServiceProfile of the cluster domain whose Service does not exist. */
  readonly profiles: Map<string, ServiceProfileState>;
}

/**
 * Turns mesh resources and workload registrations into endpoint sets and
 * service profiles. Pure and deterministic: equal inputs give equal output,
 * down to the order of keys and endpoints.
 *
 * Endpoints come from a Service's EndpointSlices when it has any, else from
 * its selector (see {@link endpointSet}). ServiceProfiles named for another
 * cluster domain are ignored. A
 * ServiceProfile whose Service does not exist is still published, as proxies
 * may ask for the profile of any name.
 *
 * Services mirrored from linked clusters (`mirrors`) are served like
 * Services whose endpoints are the linked cluster's gateway (see
 * {@link mirrorEndpointSets}); a local Service of the same name wins.
 */
export function computeDestinationState(
  resources: MeshResources,
  registered: readonly WorkloadRegistration[],
  options: DestinationOptions,
  mirrors: readonly MirroredService[] = [],
): DestinationState {
  const resolved = resolveDestinationOptions(options);
  const workloads = mergeWorkloads(resources.workloads, registered);
  const pods = new Map<string, Workload>();
  for (const workload of workloads) if (workload.source === 'Pod') pods.set(`${workload.namespace}/${workload.name}`, workload);
  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const slice of resources.endpointSlices) {
    if (slice.service === undefined) continue;
    const key = `${slice.namespace}/${slice.service}`;
    const list = slicesByService.get(key);
    if (list) list.push(slice);
    else slicesByService.set(key, [slice]);
  }

  const profilesByService = new Map<string, ServiceProfile>();
  for (const profile of resources.serviceProfiles) {
    if (profile.target.clusterDomain !== resolved.clusterDomain) continue;
    profilesByService.set(`${profile.target.namespace}/${profile.target.service}`, profile);
  }

  const endpointSets = new Map<string, EndpointSet>();
  const profiles = new Map<string, ServiceProfileState>();
  for (const service of resources.services) {
    const key = `${service.namespace}/${service.name}`;
    const profile = profilesByService.get(key);
    profilesByService.delete(key);
    const opaquePorts = opaqueServicePorts(service, profile);
    const inputs = { workloads, pods, slices: slicesByService.get(key) ?? [] };
    for (const port of service.ports) {
      const set = endpointSet(service, port, inputs, opaquePorts.includes(port.port), resolved);
      endpointSets.set(subjects.endpoints(service.namespace, service.name, port.port), set);
    }
    profiles.set(subjects.profile(service.namespace, service.name), profileState({ namespace: service.namespace, service: service.name }, service, profile));
  }
  const local = new Set(resources.services.map((s) => `${s.namespace}/${s.name}`));
  const mirrored = new Set<string>();
  for (const mirror of mirrors) {
    const key = `${mirror.namespace}/${mirror.service}`;
    if (local.has(key) || mirrored.has(key)) continue;
    mirrored.add(key);
    for (const [subject, set] of mirrorEndpointSets(mirror, resolved)) endpointSets.set(subject, set);
    profiles.set(subjects.profile(mirror.namespace, mirror.service), mirrorProfile(mirror, profilesByService.get(key)));
    profilesByService.delete(key);
  }
  for (const profile of profilesByService.values()) {
    const { namespace, service } = profile.target;
    profiles.set(subjects.profile(namespace, service), profileState({ namespace, service }, undefined, profile));
  }
  return { endpointSets: sortedByKey(endpointSets), profiles: sortedByKey(profiles) };
}

function sortedByKey<T>(map: Map<string, T>): Map<string, T> {
  return new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
