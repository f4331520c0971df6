import type { StateView } from '@meshbus/bus';
import type { Readiness } from '@meshbus/runtime';
import type { PublishFailure } from '@meshbus/bus';
import type { StateData } from './reconcile.js';
import type { BusStateReader } from './reconciler.js';

/** The endpoint sets and profiles of a state view, as the reconciler reads them. */
export function busStateReader(view: () => StateView | undefined): BusStateReader {
  return {
    get: (subject) => view()?.get(subject)?.data as StateData | undefined,
    *subjects() {
      const v = view();
      if (!v) return;
      for (const e of v.values('endpointSet')) yield e.natsSubject;
      for (const e of v.values('serviceProfile')) yield e.natsSubject;
    },
  };
}

/** Failing keys listed on /ready at most. */
const maxListed = 20;

/**
 * The /ready details for keys whose publication keeps failing. The replica
 * stays ready: every other key is still published, and a restart would not
 * make the bus accept the refused value.
 */
export function failingKeysReadiness(failing: ReadonlyMap<string, PublishFailure>): Pick<Readiness, 'details'> {
  if (failing.size === 0) return {};
  const details = [...failing].slice(0, maxListed).map(([subject, f]) => `publishing ${subject} failing (${f.attempts} attempts): ${f.error}`);
  if (failing.size > maxListed) details.push(`and ${failing.size - maxListed} more failing keys`);
  return { details };
}
