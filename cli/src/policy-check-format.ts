import type { PolicyStatus } from '@meshbus/bus-schemas';
import { formatTable } from './table.js';

/** What `meshbus policy check` found. */
export interface PolicyCheck {
  /** False when the policy service has published nothing at all (no status, no defaults). */
  published: boolean;
  namespace?: string;
  /** Accepted and in no conflict. */
  accepted: PolicyStatus[];
  /** Accepted, but in conflict with another resource for some of what it selects (a Server that lost a port). */
  conflicted: PolicyStatus[];
  rejected: PolicyStatus[];
}

const inConflict = (s: PolicyStatus) => s.conditions.some((c) => c.type === 'Conflicted' && c.status === 'True');

/** Sorts the statuses (by file, then kind, namespace, name) and splits them, narrowed to a namespace if given. */
export function checkPolicies(statuses: readonly PolicyStatus[], defaultsPublished: boolean, namespace?: string): PolicyCheck {
  const mine = statuses.filter((s) => namespace === undefined || s.namespace === namespace);
  const key = (s: PolicyStatus) => [s.file, s.kind, s.namespace, s.name].join('\0');
  const sorted = [...mine].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    published: statuses.length > 0 || defaultsPublished,
    ...(namespace !== undefined ? { namespace } : {}),
    accepted: sorted.filter((s) => s.accepted && !inConflict(s)),
    conflicted: sorted.filter((s) => s.accepted && inConflict(s)),
    rejected: sorted.filter((s) => !s.accepted),
  };
}

/** Why a resource was refused: every condition that is not as it should be, `Reason: message`. */
export function rejectionReason(s: PolicyStatus): string {
  const bad = s.conditions.filter((c) => (c.type === 'Conflicted' ? c.status === 'True' : c.status === 'False'));
  const shown = bad.length ? bad : s.conditions;
  // Two conditions often say the same thing (Accepted and ResolvedRefs for a missing reference): say it once.
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const c of shown) {
    if (seen.has(c.message)) continue;
    seen.add(c.message);
    parts.push(`${c.reason}: ${c.message}`);
  }
  return parts.length ? parts.join('; ') : 'rejected (no condition given)';
}

/** The exit code of the check: 0 when everything published is accepted without conflict, 1 when anything is rejected or in conflict, or nothing was published. */
export function checkExitCode(check: PolicyCheck): number {
  return !check.published || check.rejected.length > 0 || check.conflicted.length > 0 ? 1 : 0;
}

/** The check for people: the rejected resources with file and reason, then the counts. */
export function formatPolicyCheck(check: PolicyCheck): string {
  if (!check.published) {
    return 'nothing to check: the policy service has published no status and no defaults (is it running? start the mesh with `npm run dev`)\n';
  }
  const where = check.namespace !== undefined ? ` in namespace ${check.namespace}` : '';
  const total = check.accepted.length + check.conflicted.length + check.rejected.length;
  if (total === 0) return `no policy or route resources${where}\n`;
  const rows = [...check.rejected, ...check.conflicted].map((s) => [s.file, `${s.kind} ${s.namespace}/${s.name}`, rejectionReason(s)]);
  const table = rows.length ? formatTable(['FILE', 'RESOURCE', 'REASON'], rows) : '';
  const conflicts = check.conflicted.length ? `, ${check.conflicted.length} in conflict` : '';
  const summary = `${check.rejected.length} rejected${conflicts}, ${check.accepted.length} accepted${where}\n`;
  return table + summary;
}

/** The check as one JSON value. */
export function policyCheckJson(check: PolicyCheck): Record<string, unknown> {
  return {
    published: check.published,
    ...(check.namespace !== undefined ? { namespace: check.namespace } : {}),
    acceptedCount: check.accepted.length,
    conflictedCount: check.conflicted.length,
    rejectedCount: check.rejected.length,
    rejected: check.rejected.map((s) => ({ ...s, reason: rejectionReason(s) })),
    conflicted: check.conflicted.map((s) => ({ ...s, reason: rejectionReason(s) })),
  };
}
