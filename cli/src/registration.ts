import { busValidator, SchemaValidationError, type BusValidator, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { UsageError } from './errors.js';
import type { PortSpec } from './flags.js';

/** The flags of `meshbus register`, parsed. */
export interface RegistrationFlags {
  namespace: string;
  name: string;
  address: string;
  ports: PortSpec[];
  labels: [string, string][];
  serviceAccount?: string;
  zone?: string;
  meshed: boolean;
  intervalMs: number;
}

/**
 * Builds the announcement `meshbus register` publishes and checks it against
 * the bus schema, so that a bad flag is reported before anything connects.
 */
export function buildRegistration(flags: RegistrationFlags): Omit<WorkloadRegistration, 'heartbeatIntervalMs'> {
  const [first, ...rest] = flags.ports;
  if (!first) throw new UsageError('at least one --port is required');
  const seenPorts = new Set<number>();
  const seenNames = new Set<string>();
  for (const p of flags.ports) {
    if (seenPorts.has(p.port)) throw new UsageError(`port ${p.port} is given twice`);
    if (p.name && seenNames.has(p.name)) throw new UsageError(`port name ${p.name} is given twice`);
    seenPorts.add(p.port);
    if (p.name) seenNames.add(p.name);
  }
  const registration: Omit<WorkloadRegistration, 'heartbeatIntervalMs'> = {
    namespace: flags.namespace,
    name: flags.name,
    address: flags.address,
    ports: [first, ...rest],
  };
  if (flags.labels.length > 0) registration.labels = Object.fromEntries(flags.labels);
  if (flags.serviceAccount) registration.serviceAccount = flags.serviceAccount;
  if (flags.zone) registration.zone = flags.zone;
  if (!flags.meshed) registration.meshed = false;
  const validator: BusValidator = busValidator();
  try {
    validator.check('workloadRegistered', { ...registration, heartbeatIntervalMs: flags.intervalMs });
  } catch (err) {
    if (err instanceof SchemaValidationError) throw new UsageError(`the registration is not valid: ${err.problems.join('; ')}`);
    throw err;
  }
  return registration;
}
