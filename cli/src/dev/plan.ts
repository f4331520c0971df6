import { join } from 'node:path';

/** The control-plane services `meshbus dev` runs. */
export type DevServiceName = 'destination' | 'policy' | 'gateway' | 'identity' | 'multicluster';

/** The multicluster side of one mesh of `meshbus dev --clusters 2`. */
export interface DevMulticlusterPlan {
  /** `MESHBUS_CLUSTER_NAME`, also the JetStream domain of its nats-server. */
  cluster: string;
  /** `MESHBUS_MULTICLUSTER_LINKS`: the clusters whose exports this one mirrors. */
  links: readonly string[];
  /** `MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES` (`ip:port`): where linked clusters reach this cluster's gateway. */
  gatewayAddresses: readonly string[];
}

/** One child process of `meshbus dev`. */
export interface DevProcessSpec {
  /** `<service>-<i>`, also its replica id and its output prefix. */
  name: string;
  /** The service, or `multicluster-gateway` for the proxy in gateway mode. */
  service: DevServiceName | 'multicluster-gateway';
  /** The service's built main.js. */
  script: string;
  /** Variables set for this process on top of the inherited environment. */
  env: Record<string, string>;
  adminUrl: string;
  /** gRPC address (`host:port`) of a gateway. */
  grpcAddress?: string;
}

/** A process of a control-plane service. */
export interface DevServiceProcessSpec extends DevProcessSpec {
  service: DevServiceName;
}

/** Inputs of {@link planDevProcesses}; ports are picked beforehand. */
export interface DevPlanInput {
  services: readonly DevServiceName[];
  replicas: number;
  /** Folder holding `<service>/dist/main.js`. */
  servicesDir: string;
  natsUrl: string;
  logLevel: string;
  manifestsDir: string;
  identityDir: string;
  /** Admin port of each process, in plan order (service by service, replica by replica). */
  adminPorts: readonly number[];
  /** gRPC port of each gateway replica. */
  gatewayPorts: readonly number[];
  /** The NATS login of each service, when `meshbus dev` runs its own nats-server with users. */
  natsUsers?: Readonly<Record<DevServiceName, { user: string; password: string }>>;
  /** `MESHBUS_STREAM_REPLICAS` of every service: how many NATS nodes keep each stream. @default unset (the services' default, 1) */
  streamReplicas?: number;
  /** Put before every process name (`east-`), when several meshes run side by side. @default '' */
  namePrefix?: string;
  /** Settings of the multicluster service; required when `services` has it. */
  multicluster?: DevMulticlusterPlan;
}

/** Every control-plane service `meshbus dev` can run, in start order. */
export const devServices: readonly DevServiceName[] = ['destination', 'policy', 'gateway', 'identity'];

/** The shape of a local mesh: how many NATS nodes, and how many replicas of each service. */
export interface DevTopology {
  natsNodes: number;
  replicas: Readonly<Partial<Record<DevServiceName, number>>>;
  /** How many NATS nodes keep each stream; undefined leaves the services' default. */
  streamReplicas: number | undefined;
  /** The folder the default manifests folder is copied from, relative to the repository. */
  manifestsSource: string;
}

/** Replicas and NATS nodes of `meshbus dev --ha`, and of compose-dev/compose.yaml. */
export const haTopology = { natsNodes: 3, replicas: 2 } as const;

/**
 * What `meshbus dev` runs: with `ha`, a 3-node NATS cluster keeping every
 * stream on all nodes and 2 replicas of each service (unless `replicas` says
 * more); otherwise one nats-server and `replicas` of each.
 */
export function planDevTopology(options: { ha: boolean; replicas?: number | undefined; services?: readonly DevServiceName[] }): DevTopology {
  const services = options.services ?? devServices;
  const replicas = options.replicas ?? (options.ha ? haTopology.replicas : 1);
  const natsNodes = options.ha ? haTopology.natsNodes : 1;
  return {
    natsNodes,
    replicas: Object.fromEntries(services.map((s) => [s, replicas])) as Partial<Record<DevServiceName, number>>,
    streamReplicas: natsNodes > 1 ? natsNodes : undefined,
    manifestsSource: 'examples/manifests',
  };
}

/** Path of a service's built entry point. */
export function serviceScript(servicesDir: string, service: DevServiceName): string {
  return join(servicesDir, service, 'dist', 'main.js');
}

/** Which processes to run, with the environment each one gets. */
export function planDevProcesses(input: DevPlanInput): DevServiceProcessSpec[] {
  const specs: DevServiceProcessSpec[] = [];
  for (const service of input.services) {
    for (let i = 0; i < input.replicas; i++) {
      const name = `${input.namePrefix ?? ''}${service}-${i + 1}`;
      const adminPort = input.adminPorts[specs.length];
      if (adminPort === undefined) throw new RangeError(`no admin port for ${name}`);
      const env: Record<string, string> = {
        NATS_URL: input.natsUrl,
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        MESHBUS_REPLICA_ID: name,
        MESHBUS_LOG_LEVEL: input.logLevel,
      };
      if (input.streamReplicas !== undefined) env.MESHBUS_STREAM_REPLICAS = String(input.streamReplicas);
      const spec: DevServiceProcessSpec = { name, service, script: serviceScript(input.servicesDir, service), env, adminUrl: `http://127.0.0.1:${adminPort}` };
      const login = input.natsUsers?.[service];
      if (login) {
        env.NATS_USER = login.user;
        env.NATS_PASSWORD = login.password;
        // The gateway's user may only read the streams; destination, policy and identity create them.
        if (service === 'gateway') env.MESHBUS_ENSURE_STREAMS = 'false';
      }
      if (service === 'destination') {
        env.MESHBUS_MANIFESTS_DIR = input.manifestsDir;
        // Registration requests carry the same workload tokens identity accepts.
        env.MESHBUS_TOKEN_PUBLIC_KEY = join(input.identityDir, 'token.pub');
      }
      if (service === 'policy') {
        // The same folder as destination: policies and routes sit beside the services they shape.
        env.MESHBUS_MANIFESTS_DIR = input.manifestsDir;
      }
      if (service === 'gateway') {
        const port = input.gatewayPorts[i];
        if (port === undefined) throw new RangeError(`no gRPC port for ${name}`);
        spec.grpcAddress = `127.0.0.1:${port}`;
        env.MESHBUS_GRPC_ADDR = spec.grpcAddress;
      }
      if (service === 'identity') {
        env.MESHBUS_IDENTITY_DIR = input.identityDir;
        env.MESHBUS_TOKEN_PUBLIC_KEY = join(input.identityDir, 'token.pub');
      }
      if (service === 'multicluster') {
        const mc = input.multicluster;
        if (!mc) throw new RangeError(`no cluster settings for ${name}`);
        env.MESHBUS_CLUSTER_NAME = mc.cluster;
        // The Services it exports are read from the same folder as destination's.
        env.MESHBUS_MANIFESTS_DIR = input.manifestsDir;
        if (mc.links.length > 0) env.MESHBUS_MULTICLUSTER_LINKS = mc.links.join(',');
        if (mc.gatewayAddresses.length > 0) env.MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES = mc.gatewayAddresses.join(',');
      }
      specs.push(spec);
    }
  }
  return specs;
}

/** Inputs of {@link planGatewayProxy}. */
export interface GatewayProxyPlanInput {
  /** The built proxy entry point (`proxy/dist/main.js`). */
  script: string;
  name: string;
  /** gRPC addresses of the mesh's gateway replicas. */
  gateways: readonly string[];
  /** The tunnel listener (`ip:port`): the address the multicluster service announces. */
  tunnelAddress: string;
  adminPort: number;
  trustAnchors: string;
  /** File holding a workload token for `multicluster-gateway` in `meshbus`. */
  tokenFile: string;
  logLevel: string;
}

/**
 * The proxy in gateway mode that linked clusters' proxies open tunnels to,
 * with the identity the multicluster service announces for it
 * (service account `multicluster-gateway` in the control namespace `meshbus`).
 */
export function planGatewayProxy(input: GatewayProxyPlanInput): DevProcessSpec {
  return {
    name: input.name,
    service: 'multicluster-gateway',
    script: input.script,
    adminUrl: `http://127.0.0.1:${input.adminPort}`,
    env: {
      MESHBUS_PROXY_MODE: 'gateway',
      MESHBUS_PROXY_GATEWAYS: input.gateways.join(','),
      MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
      MESHBUS_PROXY_NAMESPACE: 'meshbus',
      MESHBUS_PROXY_WORKLOAD_NAME: input.name,
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'multicluster-gateway',
      MESHBUS_PROXY_TRUST_ANCHORS: input.trustAnchors,
      MESHBUS_PROXY_IDENTITY_TOKEN_FILE: input.tokenFile,
      MESHBUS_PROXY_GATEWAY_ADDR: input.tunnelAddress,
      MESHBUS_PROXY_ADMIN_ADDR: `127.0.0.1:${input.adminPort}`,
      MESHBUS_PROXY_LOG_LEVEL: input.logLevel,
    },
  };
}
