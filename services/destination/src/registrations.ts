import type { WorkloadRegistration } from '@meshbus/bus-schemas';

/** A registration whose heartbeats stopped. */
export interface ExpiredRegistration {
  subject: string;
  registration: WorkloadRegistration;
  lastSeen: number;
}

/** Heartbeats missed before a registered workload is removed. */
export const missedHeartbeatsAllowed = 3;

/**
 * Registered workloads and when each was last heard from, by this process's
 * own clock (so clock skew between hosts cannot expire anyone early). A
 * registration replayed from the bus at start counts as heard at that moment:
 * a restarted destination gives every workload a full grace period.
 */
export class RegistrationTracker {
  private readonly entries = new Map<string, { registration: WorkloadRegistration; lastSeen: number }>();

  /** Records a registration (or its removal) seen on `subject`. */
  observe(subject: string, registration: WorkloadRegistration | undefined, now: number): void {
    if (registration) this.entries.set(subject, { registration, lastSeen: now });
    else this.entries.delete(subject);
  }

  /** The registration stored on `subject`, expired or not. */
  get(subject: string): WorkloadRegistration | undefined {
    return this.entries.get(subject)?.registration;
  }

  /** Counts a heartbeat: restarts the allowance without a new registration. False when unknown. */
  renew(subject: string, now: number): boolean {
    const e = this.entries.get(subject);
    if (!e) return false;
    e.lastSeen = now;
    return true;
  }

  /** Registrations still within their heartbeat allowance. */
  live(now: number): WorkloadRegistration[] {
    const out: WorkloadRegistration[] = [];
    for (const e of this.entries.values()) if (!isExpired(e.registration, e.lastSeen, now)) out.push(e.registration);
    return out;
  }

  /** Registrations past their allowance, still awaiting a tombstone. */
  expired(now: number): ExpiredRegistration[] {
    const out: ExpiredRegistration[] = [];
    for (const [subject, e] of this.entries) if (isExpired(e.registration, e.lastSeen, now)) out.push({ subject, registration: e.registration, lastSeen: e.lastSeen });
    return out;
  }

  /** Treats everyone as just heard from (after becoming leader, nobody is expired on stale local data). */
  refreshAll(now: number): void {
    for (const e of this.entries.values()) e.lastSeen = now;
  }
}

function isExpired(r: WorkloadRegistration, lastSeen: number, now: number): boolean {
  return now - lastSeen > r.heartbeatIntervalMs * missedHeartbeatsAllowed;
}
