import { apiChecks } from './checks-api.js';
import { controlPlaneChecks } from './checks-control-plane.js';
import { identityChecks } from './checks-identity.js';
import { multiclusterChecks } from './checks-multicluster.js';
import { natsChecks } from './checks-nats.js';
import { preChecks } from './checks-pre.js';
import { proxyChecks } from './checks-proxy.js';
import { webhookChecks } from './checks-webhook.js';
import type { ClusterCheck } from './context.js';

/** Which checks a run makes. */
export interface CheckSelection {
  /** Before installing: the API, permissions and conflicts, nothing of an installation. */
  readonly pre: boolean;
  /** Also the meshed pods' proxies. */
  readonly proxy: boolean;
}

/** The checks of a selection, in the order they run. */
export function selectChecks(selection: CheckSelection): ClusterCheck[] {
  if (selection.pre) return [...apiChecks(), ...preChecks()];
  return [
    ...apiChecks(),
    ...controlPlaneChecks(),
    ...natsChecks(),
    ...webhookChecks(),
    ...identityChecks(),
    ...multiclusterChecks(),
    ...(selection.proxy ? proxyChecks() : []),
  ];
}
