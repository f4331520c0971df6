import { busValidator, SchemaValidationError, type BusValidator, type WorkloadRegistration } from '@meshbus/bus-schemas';
import type { WorkloadRegistrationError } from '@meshbus/bus';
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
 * Builds the registration `meshbus register` sends and checks it against the
 * request schema, so that a bad flag is reported before anything connects.
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
    // The token is checked by the destination; a placeholder lets the schema check everything else here.
    validator.check('workloadRegisterRequest', { token: 'unchecked', registration: { ...registration, heartbeatIntervalMs: flags.intervalMs } });
  } catch (err) {
    if (err instanceof SchemaValidationError) throw new UsageError(`the registration is not valid: ${err.problems.map((p) => p.replace(/^\/registration/, '')).join('; ')}`);
    throw err;
  }
  return registration;
}

/** Where `meshbus register` gets the workload's token, in order of preference. */
export type WorkloadTokenSource =
  | { kind: 'file'; path: string }
  | { kind: 'env'; token: string }
  /** A running `meshbus dev`: signed on the spot with its token key. */
  | { kind: 'dev'; keyFile: string };

/**
 * `--token-file`, else `MESHBUS_WORKLOAD_TOKEN`, else the token key of a running `meshbus dev`
 * that the command talks to. Throws {@link UsageError} saying how to provide one.
 */
export function chooseWorkloadTokenSource(input: {
  tokenFile: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  devKeyFile: string | undefined;
}): WorkloadTokenSource {
  if (input.tokenFile !== undefined) return { kind: 'file', path: input.tokenFile };
  const fromEnv = input.env.MESHBUS_WORKLOAD_TOKEN?.trim();
  if (fromEnv) return { kind: 'env', token: fromEnv };
  if (input.devKeyFile !== undefined) return { kind: 'dev', keyFile: input.devKeyFile };
  throw new UsageError(
    'register needs the workload token: pass --token-file <file> or set MESHBUS_WORKLOAD_TOKEN (`meshbus identity token --namespace <ns> --service-account <sa>` prints one in local mode)',
  );
}

/** Describes a refused or failed registration so that the person knows what to fix. */
export function describeRegistrationError(error: WorkloadRegistrationError, source: WorkloadTokenSource): string {
  const where = error.field ? ` at ${error.field}` : '';
  const hint: Record<string, string> = {
    Unauthenticated: `check the token (${describeTokenSource(source)}): it must be signed by the mesh's token key, unexpired, for audience identity.meshbus.io`,
    PermissionDenied: 'the token must be for the namespace of --namespace and the service account of --service-account (default: default)',
    InvalidRequest: 'fix the flag that sets this field',
    RegistrationDisabled: 'the destination service needs MESHBUS_TOKEN_PUBLIC_KEY (meshbus dev sets it)',
    Unavailable: 'is the destination service running? try again in a few seconds',
    NotLeader: 'try again in a few seconds',
  };
  const advice = hint[error.code];
  return `registration refused (${error.code}${where}): ${error.message}${advice ? `; ${advice}` : ''}`;
}

/** Says where the token came from, without showing it. */
export function describeTokenSource(source: WorkloadTokenSource): string {
  switch (source.kind) {
    case 'file':
      return `--token-file ${source.path}`;
    case 'env':
      return 'MESHBUS_WORKLOAD_TOKEN';
    case 'dev':
      return `signed with the meshbus dev token key ${source.keyFile}`;
  }
}
