import type { BusEvent } from '@meshbus/bus';
import { parseStateSubject, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { defaultWorkloadWeight, type Workload } from '@meshbus/manifests';

/** A workload registered over the bus, with the defaults a manifest Workload gets. */
export function workloadFromRegistration(registration: WorkloadRegistration): Workload {
  return {
    kind: 'Workload',
    namespace: registration.namespace,
    name: registration.name,
    labels: registration.labels ?? {},
    annotations: {},
    address: registration.address,
    ports: registration.ports.map((p) => (p.name !== undefined ? { name: p.name, port: p.port } : { port: p.port })),
    serviceAccount: registration.serviceAccount ?? 'default',
    ready: registration.ready ?? true,
    meshed: registration.meshed ?? true,
    ...(registration.zone !== undefined ? { zone: registration.zone } : {}),
    weight: registration.weight ?? defaultWorkloadWeight,
    opaquePorts: (registration.opaquePorts ?? []).map((port) => ({ min: port, max: port })),
    probes: [],
  };
}

/**
 * The registered workloads as the bus holds them
 * (`meshbus.v1.state.workloads.<ns>.<name>`, written by the destination
 * leader). A workload keeps the same object while its registration is
 * unchanged, so that the computation sees it as unchanged.
 */
export class RegisteredWorkloads {
  readonly #bySubject = new Map<string, { event: BusEvent; workload: Workload }>();
  #list: readonly Workload[] = [];

  /** A workload state subject changed; true when the list of workloads changed. */
  observe(subject: string, event: BusEvent | undefined): boolean {
    const held = this.#bySubject.get(subject);
    const registration = event?.data as WorkloadRegistration | undefined;
    const [namespace, name, ...rest] = parseStateSubject(subject)?.key ?? [];
    // Data naming another workload than its subject is refused by the destination, and left out here.
    const valid = registration !== undefined && rest.length === 0 && registration.namespace === namespace && registration.name === name;
    if (!valid) {
      if (!held) return false;
      this.#bySubject.delete(subject);
    } else {
      if (held?.event === event) return false;
      this.#bySubject.set(subject, { event: event!, workload: workloadFromRegistration(registration) });
    }
    this.#list = [...this.#bySubject.values()].map((e) => e.workload);
    return true;
  }

  /** The current workloads (a new array after each change). */
  get workloads(): readonly Workload[] {
    return this.#list;
  }
}
