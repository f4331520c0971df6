/*
 * Workloads registered over the bus (they have no manifest), per golden
 * case that needs them.
 */
import type { Workload } from '@meshbus/manifests';
import { workload } from './builders.js';

export const registeredWorkloads: Readonly<Record<string, readonly Workload[]>> = {
  'default-policies': [workload('deny-ns', 'registered-vm')],
};
