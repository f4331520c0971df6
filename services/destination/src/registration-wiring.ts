import type { NatsConnection } from 'nats';
import type { BusValidator } from '@meshbus/bus-schemas';
import type { Logger, Registry } from '@meshbus/runtime';
import type { TokenValidator } from '@meshbus/trust';
import type { DestinationConfig } from './config.js';
import { createRegistrationTokenValidator } from './registration-auth.js';
import { RegistrationResponder } from './registration-responder.js';
import type { WorkloadState } from './workload-state.js';

/** Version the destination reports to `$SRV.INFO`. */
export const destinationServiceVersion = '0.1.0';

/** What {@link startRegistrationResponder} needs from the destination service. */
export interface RegistrationWiring {
  nc: NatsConnection;
  config: DestinationConfig;
  validator: BusValidator;
  state: WorkloadState;
  isLeader: () => boolean;
  ready: () => boolean;
  logger: Logger;
  registry: Registry;
  /** From {@link createRegistrationTokenValidator}; undefined: registration disabled. */
  tokens: TokenValidator | undefined;
}

/**
 * Builds the token validator of the configuration. Call it before the leader election starts:
 * in cluster mode it loads the Kubernetes client, which holds the event loop for a moment.
 */
export async function registrationTokenValidator(config: DestinationConfig): Promise<TokenValidator | undefined> {
  return createRegistrationTokenValidator(config.registrationAuth);
}

/** Starts answering registration requests. */
export async function startRegistrationResponder(wiring: RegistrationWiring): Promise<RegistrationResponder> {
  const { config, logger, tokens } = wiring;
  if (!tokens) logger.warn('workload registration is disabled: set MESHBUS_TOKEN_PUBLIC_KEY (or MESHBUS_TOKEN_VALIDATION=kubernetes) to accept registrations');
  const responder = new RegistrationResponder({
    nc: wiring.nc,
    validator: wiring.validator,
    tokens,
    state: wiring.state,
    isLeader: wiring.isLeader,
    ready: wiring.ready,
    replicaId: config.replicaId,
    source: `/meshbus/destination/${config.replicaId}`,
    version: destinationServiceVersion,
    logger,
    registry: wiring.registry,
  });
  await responder.start();
  return responder;
}
