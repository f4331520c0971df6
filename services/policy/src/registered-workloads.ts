import type { BusEvent } from '@meshbus/bus';
import { parseStateSubject, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { workloadFromRegistration, type Workload } from '@meshbus/manifests';

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
