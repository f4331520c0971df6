import { join } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { protoDir } from '@meshbus/proxy-api';

/** The proxy APIs the gateway serves, by their full gRPC service names. */
export const proxyApiServices = [
  'io.linkerd.proxy.destination.Destination',
  'io.linkerd.proxy.identity.Identity',
  'io.linkerd.proxy.inbound.InboundServerPolicies',
  'io.linkerd.proxy.outbound.OutboundPolicies',
] as const;

/** The health service name of the whole server (what a Kubernetes gRPC probe asks by default). */
export const wholeServer = '';

/**
 * The standard gRPC health service (`grpc.health.v1.Health`, Check and Watch)
 * for the whole server and each proxy API: SERVING while the gateway is ready,
 * NOT_SERVING otherwise.
 */
export class GatewayHealth {
  private readonly health: HealthImplementation;
  private serving: boolean | undefined;

  constructor() {
    this.health = new HealthImplementation();
    this.set(false);
  }

  /** Sets every name to SERVING or NOT_SERVING; Watch streams hear of a change only. */
  set(serving: boolean): void {
    if (serving === this.serving) return;
    this.serving = serving;
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    for (const name of [wholeServer, ...proxyApiServices]) this.health.setStatus(name, s);
  }

  addToServer(server: Server): void {
    this.health.addToServer(server);
  }
}

/**
 * gRPC server reflection (v1 and v1alpha) over the proxy API's .proto files
 * and the health service, so that tools can list the services and describe
 * their messages without a copy of the schema.
 */
export function addReflection(server: Server): void {
  const files = ['destination.proto', 'identity.proto', 'inbound.proto', 'outbound.proto', 'telemetry.proto', 'tap.proto'].map((f) => join(protoDir, f));
  const definition = loadSync([...files, healthProtoPath], { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService(definition).addToServer(server as unknown as Parameters<ReflectionService['addToServer']>[0]);
}
