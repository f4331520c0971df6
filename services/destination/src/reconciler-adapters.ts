import type { StateView } from '@meshbus/bus';
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
