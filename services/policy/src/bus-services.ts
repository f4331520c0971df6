import type { BusEvent } from '@meshbus/bus';
import { parseStateSubject, type EndpointSet, type MirroredService } from '@meshbus/bus-schemas';
import type { Service } from '@meshbus/manifests';
import { readinessKey } from '@meshbus/policy';

/**
 * What the policy reads of the services' life on the bus: the mirrored
 * services (`meshbus.v1.state.mirrors.<ns>.<svc>`, written by the
 * multicluster leader), which are Services for routes and outbound policy,
 * and which service ports have ready endpoints (the destination's endpoint
 * sets `meshbus.v1.state.endpoints.<ns>.<svc>.<port>` hold only ready
 * endpoints; a mirror's port is ready when the mirror is, the port has
 * ready endpoints in its cluster and they present an identity), for failover
 * routes.
 *
 * A mirror keeps the same Service object while it is unchanged, so that the
 * computation sees it as unchanged; `services` and `readiness` are new
 * objects after each change of what they hold.
 */
export class BusServices {
  readonly #mirrors = new Map<string, { mirror: MirroredService; service: Service }>();
  readonly #endpointsReady = new Map<string, boolean>();
  #services: readonly Service[] = [];
  #readiness: ReadonlyMap<string, boolean> = new Map();

  /** A state subject changed; true when mirrors or readiness changed. */
  observe(subject: string, event: BusEvent | undefined): boolean {
    const parsed = parseStateSubject(subject);
    if (parsed?.kind === 'mirrors') return this.#observeMirror(parsed.key, event);
    if (parsed?.kind === 'endpoints') return this.#observeEndpoints(parsed.key, event);
    return false;
  }

  /** The mirrored services as Services (a new array after each change). */
  get services(): readonly Service[] {
    return this.#services;
  }

  /** Ready service ports by `readinessKey`, mirrors over endpoint sets (a new map after each change). */
  get readiness(): ReadonlyMap<string, boolean> {
    return this.#readiness;
  }

  #observeMirror(key: readonly string[], event: BusEvent | undefined): boolean {
    const name = key.join('/');
    const mirror = event?.kind === 'mirroredService' ? (event.data as MirroredService) : undefined;
    // A mirror published under another name than its own is left out, as the destination does.
    const valid = mirror !== undefined && key.length === 2 && mirror.namespace === key[0] && mirror.service === key[1];
    const held = this.#mirrors.get(name);
    if (!valid) {
      if (!held) return false;
      this.#mirrors.delete(name);
    } else {
      if (held?.mirror === mirror) return false;
      this.#mirrors.set(name, { mirror, service: mirrorService(mirror) });
    }
    this.#services = [...this.#mirrors.values()].map((m) => m.service);
    this.#rebuildReadiness();
    return true;
  }

  #observeEndpoints(key: readonly string[], event: BusEvent | undefined): boolean {
    const [namespace, service, port, ...rest] = key;
    if (namespace === undefined || service === undefined || port === undefined || rest.length > 0) return false;
    const set = event?.kind === 'endpointSet' ? (event.data as EndpointSet) : undefined;
    const id = readinessKey(namespace, service, Number(port));
    const ready = set !== undefined && set.endpoints.length > 0;
    if ((this.#endpointsReady.get(id) ?? false) === ready) return false;
    if (ready) this.#endpointsReady.set(id, true);
    else this.#endpointsReady.delete(id);
    const before = this.#readiness;
    this.#rebuildReadiness();
    return before.get(id) !== this.#readiness.get(id);
  }

  #rebuildReadiness(): void {
    const out = new Map(this.#endpointsReady);
    for (const { mirror } of this.#mirrors.values()) {
      for (const p of mirror.ports) {
        const id = readinessKey(mirror.namespace, mirror.service, p.port);
        // As destination publishes it: a mirror without remote identities has nowhere to go.
        if (mirror.ready && p.ready > 0 && mirror.identities.length > 0) out.set(id, true);
        else out.delete(id);
      }
    }
    this.#readiness = out;
  }
}

/** A mirrored service as a Service: its ports, no addresses (proxies resolve its name through the destination). */
export function mirrorService(mirror: MirroredService): Service {
  const opaque = mirror.ports.filter((p) => p.opaque === true).map((p) => ({ min: p.port, max: p.port }));
  return {
    kind: 'Service',
    namespace: mirror.namespace,
    name: mirror.service,
    labels: {},
    annotations: {},
    ports: mirror.ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), port: p.port, targetPort: p.port })),
    opaquePorts: opaque,
    clusterIPs: [],
    traffic: {},
  };
}
