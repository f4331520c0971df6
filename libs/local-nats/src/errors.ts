import { MeshbusError } from '@meshbus/runtime';

/** A user or password that cannot be written into a nats-server configuration. */
export class NatsAuthorizationError extends MeshbusError {
  override name = 'NatsAuthorizationError';
  constructor(message: string) {
    super('InvalidNatsAuthorization', message);
  }
}
