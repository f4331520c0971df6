/** What /ready reports: ready, or not yet with the reasons why. */
export interface Readiness {
  ready: boolean;
  reasons?: string[];
  /** Conditions worth an operator's attention that do not make the service unready; printed one per line. */
  details?: string[];
}

/** Lines for /ready that do not affect readiness, such as keys that keep failing to publish. */
export type ReadinessDetails = () => readonly string[];

/**
 * One condition of readiness: returns why the service is not ready, or
 * undefined when this condition holds.
 */
export type ReadinessCheck = () => string | undefined;

/**
 * The named conditions a service must meet to be ready. A service is ready
 * when every check passes; /ready lists the reasons of those that do not, in
 * the order the checks were added.
 */
export class ReadinessChecks {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly details = new Map<string, ReadinessDetails>();

  /** Adds a check; a check of the same name is replaced. */
  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  remove(name: string): void {
    this.checks.delete(name);
    this.details.delete(name);
  }

  /** Adds details shown under the verdict; details of the same name are replaced. */
  addDetails(name: string, details: ReadinessDetails): void {
    this.details.set(name, details);
  }

  /** Names of the checks, in order. */
  get names(): string[] {
    return [...this.checks.keys()];
  }

  /** Runs every check; a check that throws counts as failing, with its error as the reason. */
  evaluate(): Readiness {
    const reasons: string[] = [];
    for (const [name, check] of this.checks) {
      let reason: string | undefined;
      try {
        reason = check();
      } catch (err) {
        reason = `${name} check failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (reason !== undefined) reasons.push(reason);
    }
    const details: string[] = [];
    for (const [name, lines] of this.details) {
      try {
        details.push(...lines());
      } catch (err) {
        details.push(`${name} details failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const verdict: Readiness = reasons.length === 0 ? { ready: true } : { ready: false, reasons };
    return details.length > 0 ? { ...verdict, details } : verdict;
  }
}
