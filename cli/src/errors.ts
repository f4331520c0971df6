import { MeshbusError } from '@meshbus/runtime';

/** A command-line argument or flag is not acceptable. */
export class UsageError extends MeshbusError {
  override name = 'UsageError';
  constructor(message: string) {
    super('InvalidArgument', message);
  }
}

/** A Destination call on the gateway failed with a gRPC status. */
export class GatewayCallError extends MeshbusError {
  override name = 'GatewayCallError';
  constructor(
    readonly gateway: string,
    /** gRPC status code, e.g. 14 for UNAVAILABLE. */
    readonly grpcCode: number,
    /** gRPC status name, e.g. `UNAVAILABLE`. */
    readonly grpcStatus: string,
    readonly details: string,
  ) {
    super('GatewayCallFailed', `gateway ${gateway}: ${grpcStatus} (${grpcCode}): ${details}`);
  }
}

/** NATS could not be reached. */
export class NatsUnreachableError extends MeshbusError {
  override name = 'NatsUnreachableError';
  constructor(message: string) {
    super('NatsUnreachable', message);
  }
}

/** `meshbus dev` could not bring the mesh up. */
export class DevStartError extends MeshbusError {
  override name = 'DevStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('DevStartFailed', message, options);
  }
}

/** `.meshbus/dev.json` exists but is not what `meshbus dev` writes. */
export class DevStateError extends MeshbusError {
  override name = 'DevStateError';
  constructor(message: string) {
    super('InvalidDevState', message);
  }
}

/** A meshbus stream is not there: the control plane has not created it yet. */
export class StreamMissingError extends MeshbusError {
  override name = 'StreamMissingError';
  constructor(stream: string, url: string) {
    super('StreamMissing', `stream ${stream} does not exist on ${url} yet: is the control plane running (npm run dev)?`);
  }
}

/** The NATS server refused what a tap session needs (the login lacks the tap role). */
export class TapRefusedError extends MeshbusError {
  override name = 'TapRefusedError';
  constructor(message: string) {
    super('TapRefused', message);
  }
}
