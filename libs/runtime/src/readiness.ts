/** What /ready reports: ready, or not yet with the reasons why. */
export interface Readiness {
  ready: boolean;
  reasons?: string[];
}

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

  /** Adds a check; a check of the same name is replaced. */
  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  remove(name: string): void {
    this.checks.delete(name);
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
    return reasons.length === 0 ? { ready: true } : { ready: false, reasons };
  }
}
