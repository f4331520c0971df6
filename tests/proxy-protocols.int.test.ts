import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  Server as GrpcServer,
  ServerCredentials,
  status as grpcStatus,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientWritableStream,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proxy, proxyConfigFromEnv } from '@meshbus/proxy';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { repoRoot, startMesh, type Mesh } from './harness.js';

// Real proxies on the real control plane, for the protocols beyond HTTP/1.1:
// A calls B's gRPC server (h2c with prior knowledge into A's outbound
// listener, HTTP/2 over mesh TLS, h2c into B), B's WebSocket endpoint, and
// B's HTTP services with retries of bodies and ServiceProfile routes; C is
// refused by B's gRPC Server; D serves gRPC outside the mesh.

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const identityOf = (sa: string) => `${sa}.proto.serviceaccount.identity.meshbus.cluster.local`;
const hosts = { a: '127.0.0.51', b: '127.0.0.52', c: '127.0.0.53', d: '127.0.0.54' } as const;
type Name = keyof typeof hosts;

function manifests(httpPort: number, grpcPort: number): string {
  const workload = (name: Name, meshed = true) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}-1
  namespace: proto
  labels:
    app: ${name}
spec:
  address: ${hosts[name]}
  ports:
    - name: http
      port: ${httpPort}
    - name: grpc
      port: ${grpcPort}
  serviceAccount: ${name}
  meshed: ${meshed}
`;
  const service = (name: string, app: Name, targetPort: 'http' | 'grpc') => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: proto
spec:
  selector:
    app: ${app}
  ports:
    - name: ${targetPort}
      port: 80
      targetPort: ${targetPort}
`;
  return `apiVersion: v1
kind: Namespace
metadata:
  name: proto
${(['a', 'b', 'c', 'd'] as const).map((n) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${n}\n  namespace: proto\n`).join('')}${workload('a')}${workload('b')}${workload('c')}${workload('d', false)}${service('grpc', 'b', 'grpc')}${service('plain', 'd', 'grpc')}${service('web', 'b', 'http')}${service('api', 'b', 'http')}${service('tight', 'b', 'http')}---
# gRPC calls to B that end UNAVAILABLE are retried.
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: grpc-retries
  namespace: proto
  annotations:
    retry.linkerd.io/grpc: unavailable
    retry.linkerd.io/limit: "2"
spec:
  parentRefs:
    - { group: core, kind: Service, name: grpc, port: 80 }
  rules:
    - backendRefs: [{ name: grpc, port: 80 }]
---
# B's gRPC port admits only A.
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: b-grpc
  namespace: proto
spec:
  podSelector:
    matchLabels:
      app: b
  port: grpc
  proxyProtocol: gRPC
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: only-a
  namespace: proto
spec:
  identityRefs:
    - kind: ServiceAccount
      name: a
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: b-grpc-from-a
  namespace: proto
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: b-grpc
  requiredAuthenticationRefs:
    - group: policy.linkerd.io
      kind: MeshTLSAuthentication
      name: only-a
---
# web has a ServiceProfile and no HTTPRoute: the profile's routes apply.
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: web.proto.svc.cluster.local
  namespace: proto
spec:
  routes:
    - name: flaky
      condition: { pathRegex: /flaky }
      isRetryable: true
    - name: missing
      condition:
        all:
          - method: GET
          - pathRegex: /missing/\\d+
      isRetryable: true
      responseClasses:
        - condition: { status: { min: 404, max: 404 } }
          isFailure: true
    - name: slow
      condition: { pathRegex: /slow }
      timeout: 200ms
---
# tight: a retry budget of 3 retries per 3 s and no more.
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: tight.proto.svc.cluster.local
  namespace: proto
spec:
  routes:
    - name: down
      condition: { pathRegex: /down }
      isRetryable: true
  retryBudget:
    retryRatio: 0
    minRetriesPerSecond: 1
    ttl: 3s
---
# api has an HTTPRoute: the OutboundPolicy decides, and its ServiceProfile is not used.
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: api.proto.svc.cluster.local
  namespace: proto
spec:
  routes:
    - name: slow
      condition: { pathRegex: /slow }
      timeout: 100ms
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api-retries
  namespace: proto
  annotations:
    retry.linkerd.io/http: "503"
    retry.linkerd.io/limit: "1"
spec:
  parentRefs:
    - { group: core, kind: Service, name: api, port: 80 }
  rules:
    - backendRefs: [{ name: api, port: 80 }]
`;
}

// A gRPC service written out by hand (JSON messages), so that no .proto file is needed.
interface Msg {
  text: string;
  count?: number;
  clientId?: string;
  hasDeadline?: boolean;
}
const json = {
  requestSerialize: (m: Msg) => Buffer.from(JSON.stringify(m)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as Msg,
  responseSerialize: (m: Msg) => Buffer.from(JSON.stringify(m)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as Msg,
};
const echoService: ServiceDefinition = {
  unary: { path: '/proto.v1.Echo/Unary', requestStream: false, responseStream: false, ...json },
  serverStream: { path: '/proto.v1.Echo/ServerStream', requestStream: false, responseStream: true, ...json },
  clientStream: { path: '/proto.v1.Echo/ClientStream', requestStream: true, responseStream: false, ...json },
  bidi: { path: '/proto.v1.Echo/Bidi', requestStream: true, responseStream: true, ...json },
};
const EchoClient = makeGenericClientConstructor(echoService, 'Echo');
type Callback = (error: ServiceError | null, value?: Msg) => void;
interface Echo extends Client {
  unary(m: Msg, metadata: Metadata, options: { deadline?: number }, cb: Callback): void;
  serverStream(m: Msg): ClientReadableStream<Msg>;
  clientStream(cb: Callback): ClientWritableStream<Msg>;
  bidi(): ClientDuplexStream<Msg, Msg>;
}

/** What a gRPC server saw. */
interface GrpcLog {
  calls: Map<string, number>;
  cancelled: string[];
  deadlines: boolean[];
}

function echoImplementation(name: string, log: GrpcLog): UntypedServiceImplementation {
  const count = (text: string) => {
    const n = (log.calls.get(text) ?? 0) + 1;
    log.calls.set(text, n);
    return n;
  };
  const clientId = (md: Metadata) => String(md.get('l5d-client-id')[0] ?? '');
  return {
    unary: (call: ServerUnaryCall<Msg, Msg>, cb: sendUnaryData<Msg>) => {
      const { text } = call.request;
      const n = count(text);
      log.deadlines.push(call.getDeadline() !== Infinity);
      if (text === 'not-found') {
        const trailer = new Metadata();
        trailer.set('x-why', 'no such thing');
        cb({ name: 'NotFound', message: 'nothing called not-found', code: grpcStatus.NOT_FOUND, details: 'nothing called not-found', metadata: trailer });
        return;
      }
      if (text === 'flaky' && n % 2 === 1) {
        cb({ name: 'Unavailable', message: 'try again', code: grpcStatus.UNAVAILABLE, details: 'try again', metadata: new Metadata() });
        return;
      }
      if (text === 'slow') {
        const timer = setTimeout(() => cb(null, { text: 'late' }), 5_000);
        call.on('cancelled', () => {
          clearTimeout(timer);
          log.cancelled.push(text);
        });
        return;
      }
      cb(null, { text: `${name}: ${text}`, count: n, clientId: clientId(call.metadata), hasDeadline: call.getDeadline() !== Infinity });
    },
    serverStream: (call: ServerWritableStream<Msg, Msg>) => {
      for (let i = 0; i < (call.request.count ?? 1); i++) call.write({ text: `${call.request.text} ${i}` });
      call.end();
    },
    clientStream: (call: ServerReadableStream<Msg, Msg>, cb: sendUnaryData<Msg>) => {
      const texts: string[] = [];
      call.on('data', (m: Msg) => texts.push(m.text));
      call.on('end', () => cb(null, { text: texts.join('+'), count: texts.length }));
    },
    bidi: (call: ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: `echo: ${m.text}` }));
      call.on('end', () => call.end());
    },
  };
}

// WebSocket framing, just enough for short text messages (RFC 6455).
const wsAccept = (key: string) => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
function wsFrame(text: string, mask: boolean): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('short messages only');
  if (!mask) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const key = randomBytes(4);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, Buffer.from(payload.map((b, i) => b ^ key[i % 4]!))]);
}
/** Calls `onText` with each text message that arrives on `socket`. */
function wsRead(socket: Socket, onText: (text: string) => void, initial: Buffer = Buffer.alloc(0)): void {
  let buffered = initial;
  const drain = () => {
    while (buffered.length >= 2) {
      const masked = (buffered[1]! & 0x80) !== 0;
      const length = buffered[1]! & 0x7f;
      const total = 2 + (masked ? 4 : 0) + length;
      if (buffered.length < total) return;
      const key = masked ? buffered.subarray(2, 6) : undefined;
      const payload = Buffer.from(buffered.subarray(total - length, total));
      if (key) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
      buffered = buffered.subarray(total);
      onText(payload.toString());
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    drain();
  });
  drain();
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP/1.1 request to a proxy's outbound listener, in absolute form. */
function viaProxy(proxyPort: number, url: string, options: { method?: string; body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: options.method ?? 'GET', path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('HTTP/2, gRPC, WebSocket, retries with bodies and ServiceProfiles through the mesh', () => {
  let mesh: Mesh;
  let dir: string;
  let httpPort: number;
  let grpcPort: number;
  let inboundPort: number;
  const apps: Server[] = [];
  const grpcServers: GrpcServer[] = [];
  const proxies = new Map<Name, Proxy>();
  const accessLogs = new Map<Name, string[]>();
  const grpcLogs = { b: { calls: new Map(), cancelled: [], deadlines: [] } as GrpcLog, d: { calls: new Map(), cancelled: [], deadlines: [] } as GrpcLog };
  /** Calls of B's HTTP program by path, and what it saw. */
  const httpCalls = new Map<string, number>();
  const bodies: string[] = [];
  const upgradesSeen: IncomingHttpHeaders[] = [];
  const clients: Client[] = [];

  const echo = (via: Name, authority: string): Echo => {
    const client = new EchoClient(`127.0.0.1:${proxies.get(via)!.ports.outbound}`, credentials.createInsecure(), { 'grpc.default_authority': authority }) as unknown as Echo;
    clients.push(client);
    return client;
  };
  const unary = (client: Echo, text: string, options: { deadline?: number } = {}): Promise<Msg> =>
    new Promise((resolve, reject) => client.unary({ text }, new Metadata(), options, (error, value) => (error ? reject(error) : resolve(value!))));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-protocols-'));
    cli(['identity', 'init', '--dir', join(dir, 'identity')]);
    httpPort = await freePort(hosts.b);
    grpcPort = await freePort(hosts.b);
    inboundPort = await freePort(hosts.b);
    const manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'proto.yaml'), manifests(httpPort, grpcPort));
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: manifestsDir, identityDir: join(dir, 'identity') });

    // B's HTTP program: plain answers, flaky ones, slow ones, bodies, and a WebSocket endpoint.
    const app = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const n = (httpCalls.get(path) ?? 0) + 1;
      httpCalls.set(path, n);
      const chunks: Buffer[] = [];
      if (path === '/stream-503') {
        // Answers before the request body is complete.
        res.writeHead(503);
        res.end('not now\n');
        req.resume();
        return;
      }
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (path === '/flaky' || path === '/flaky-body') {
          if (path === '/flaky-body') bodies.push(body.toString());
          res.writeHead(n % 2 === 1 ? 503 : 200);
          res.end(`attempt ${n} with ${body.length} bytes\n`);
        } else if (path.startsWith('/missing/')) {
          res.writeHead(n === 1 ? 404 : 200);
          res.end(`attempt ${n}\n`);
        } else if (path === '/down' || path === '/big-body') {
          res.writeHead(503);
          res.end('down\n');
        } else if (path === '/slow') setTimeout(() => res.end('slow\n'), 400);
        else res.end(`hello from b, ${req.headers['l5d-client-id'] ?? 'no client id'}\n`);
      });
    });
    app.on('upgrade', (req, socket: Socket) => {
      upgradesSeen.push(req.headers);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
      );
      socket.write(wsFrame('welcome', false));
      wsRead(socket, (text) => socket.write(wsFrame(`echo: ${text}`, false)));
      socket.on('end', () => socket.end());
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => app.listen(httpPort, hosts.b, resolve));
    apps.push(app);

    for (const [name, log] of [['b', grpcLogs.b], ['d', grpcLogs.d]] as const) {
      const server = new GrpcServer();
      server.addService(echoService, echoImplementation(name, log));
      await new Promise<void>((resolve, reject) => server.bindAsync(`${hosts[name]}:${grpcPort}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
      grpcServers.push(server);
    }

    for (const name of ['a', 'b', 'c'] as const) {
      const token = cli(['identity', 'token', '--namespace', 'proto', '--service-account', name, '--key', join(dir, 'identity', 'token.key')]).trim();
      const config = proxyConfigFromEnv({
        MESHBUS_PROXY_GATEWAYS: `127.0.0.1:${mesh.gateway.grpcPort}`,
        MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
        MESHBUS_PROXY_NAMESPACE: 'proto',
        MESHBUS_PROXY_WORKLOAD_NAME: `${name}-1`,
        MESHBUS_PROXY_SERVICE_ACCOUNT: name,
        MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'identity', 'ca.crt'),
        MESHBUS_PROXY_IDENTITY_TOKEN: token,
        MESHBUS_PROXY_INBOUND_ADDR: `${hosts[name]}:${inboundPort}`,
        MESHBUS_PROXY_INBOUND_PORTS: `${httpPort},${grpcPort}`,
        MESHBUS_PROXY_WORKLOAD_ADDR: hosts[name],
        MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '1s',
        MESHBUS_PROXY_ACCESS_LOG: 'json',
      });
      const lines: string[] = [];
      accessLogs.set(name, lines);
      const proxy = new Proxy({ ...config, listeners: { ...config.listeners, outbound: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } }, {}, { accessLogSink: (line) => lines.push(line) });
      proxies.set(name, proxy);
      await proxy.start();
    }
    for (const proxy of proxies.values()) await waitFor(async () => (await httpGet(`${proxy.adminUrl}/ready`)).status === 200, { what: 'proxy ready', timeoutMs: 20_000 });
    // Until Destination has B's endpoints, requests fail fast.
    const a = proxies.get('a')!.ports.outbound;
    await waitFor(async () => (await viaProxy(a, 'http://web.proto/hello')).status === 200, { what: 'A reaches web', timeoutMs: 15_000 });
  }, 90_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const proxy of proxies.values()) await proxy.stop();
    for (const server of grpcServers) server.forceShutdown();
    for (const app of apps) {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  describe('gRPC with grpc-js on both ends', () => {
    let client: Echo;
    beforeAll(async () => {
      client = echo('a', 'grpc.proto:80');
      await waitFor(async () => (await unary(client, 'warm-up').catch(() => undefined)) !== undefined, { what: 'A reaches grpc', timeoutMs: 15_000 });
    });

    it('carries a unary call over mesh TLS: B sees A\'s identity, and h2c reaches its server', async () => {
      const reply = await unary(client, 'hi', { deadline: Date.now() + 5_000 });
      expect(reply).toMatchObject({ text: 'b: hi', clientId: identityOf('a'), hasDeadline: true });
      const inbound = accessLogs.get('b')!.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === '/proto.v1.Echo/Unary');
      expect(inbound.at(-1)).toMatchObject({ direction: 'inbound', protocol: 'HTTP/2.0', client_id: identityOf('a'), status: 200 });
      const outbound = accessLogs.get('a')!.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === '/proto.v1.Echo/Unary');
      expect(outbound.at(-1)).toMatchObject({ direction: 'outbound', protocol: 'HTTP/2.0', authority: 'grpc.proto.svc.cluster.local:80' });
      const metrics = (await httpGet(`${proxies.get('a')!.adminUrl}/metrics`)).body;
      expect(metrics).toMatch(/response_total\{[^}]*direction="outbound"[^}]*authority="grpc\.proto\.svc\.cluster\.local:80"[^}]*tls="true"[^}]*route_kind="grpcroute"[^}]*route_name="grpc-retries"[^}]*grpc_status="0"/);
    });

    it('streams both ways', async () => {
      const fromServer = await new Promise<string[]>((resolve, reject) => {
        const texts: string[] = [];
        const stream = client.serverStream({ text: 'tick', count: 5 });
        stream.on('data', (m: Msg) => texts.push(m.text));
        stream.on('end', () => resolve(texts));
        stream.on('error', reject);
      });
      expect(fromServer).toEqual(['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4']);

      const fromClient = await new Promise<Msg>((resolve, reject) => {
        const stream = client.clientStream((error, value) => (error ? reject(error) : resolve(value!)));
        for (const t of ['x', 'y', 'z']) stream.write({ text: t });
        stream.end();
      });
      expect(fromClient).toEqual({ text: 'x+y+z', count: 3 });

      // Each answer comes before the next message is sent: the stream is live both ways.
      const conversation = await new Promise<string[]>((resolve, reject) => {
        const replies: string[] = [];
        const stream = client.bidi();
        const say = ['one', 'two', 'three'];
        stream.on('data', (m: Msg) => {
          replies.push(m.text);
          const next = say[replies.length];
          if (next !== undefined) stream.write({ text: next });
          else stream.end();
        });
        stream.on('end', () => resolve(replies));
        stream.on('error', reject);
        stream.write({ text: say[0]! });
      });
      expect(conversation).toEqual(['echo: one', 'echo: two', 'echo: three']);
    });

    it('relays status codes, messages and trailing metadata', async () => {
      const error = (await unary(client, 'not-found').catch((e: unknown) => e)) as ServiceError;
      expect(error.code).toBe(grpcStatus.NOT_FOUND);
      expect(error.details).toBe('nothing called not-found');
      expect(error.metadata.get('x-why')).toEqual(['no such thing']);
    });

    it('passes the deadline on, and cancels the server\'s call when it expires', async () => {
      const error = (await unary(client, 'slow', { deadline: Date.now() + 300 }).catch((e: unknown) => e)) as ServiceError;
      expect(error.code).toBe(grpcStatus.DEADLINE_EXCEEDED);
      await waitFor(() => grpcLogs.b.cancelled.includes('slow'), { what: 'the server call cancelled', timeoutMs: 3_000 });
      expect(grpcLogs.b.deadlines.at(-1)).toBe(true);
    });

    it('retries a call that ends UNAVAILABLE, by the GRPCRoute, with its message', async () => {
      const reply = await unary(client, 'flaky');
      expect(reply).toMatchObject({ text: 'b: flaky', count: 2 });
      expect(grpcLogs.b.calls.get('flaky')).toBe(2);
    });

    it('refuses C with PERMISSION_DENIED by B\'s policy', async () => {
      const denied = echo('c', 'grpc.proto:80');
      let error: ServiceError | undefined;
      await waitFor(async () => (error = (await unary(denied, 'let me in').catch((e: unknown) => e)) as ServiceError).code !== grpcStatus.UNAVAILABLE, { what: 'C gets an answer from B', timeoutMs: 15_000 });
      expect(error!.code).toBe(grpcStatus.PERMISSION_DENIED);
      expect(grpcLogs.b.calls.get('let me in')).toBeUndefined();
    });

    it('speaks h2c to a gRPC server outside the mesh', async () => {
      const plain = echo('a', 'plain.proto:80');
      let reply: Msg | undefined;
      await waitFor(async () => (reply = await unary(plain, 'outside').catch(() => undefined)) !== undefined, { what: 'A reaches D', timeoutMs: 15_000 });
      expect(reply).toMatchObject({ text: 'd: outside', clientId: '' });
      const metrics = (await httpGet(`${proxies.get('a')!.adminUrl}/metrics`)).body;
      expect(metrics).toMatch(/response_total\{[^}]*authority="plain\.proto\.svc\.cluster\.local:80"[^}]*tls="no_identity"/);
    });
  });

  describe('WebSocket', () => {
    /** A WebSocket handshake through A's outbound listener; resolves with the messages, after sending `say`. */
    const converse = (target: string, say: string): Promise<{ accept: string | undefined; expected: string; messages: string[] }> =>
      new Promise((resolve, reject) => {
        const key = randomBytes(16).toString('base64');
        const req = httpRequest({
          host: '127.0.0.1',
          port: proxies.get('a')!.ports.outbound,
          path: target,
          headers: { host: 'web.proto', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
        });
        req.on('upgrade', (res, socket: Socket, head: Buffer) => {
          const messages: string[] = [];
          wsRead(
            socket,
            (text) => {
              messages.push(text);
              if (text === 'welcome') socket.write(wsFrame(say, true));
              else {
                socket.end();
                resolve({ accept: res.headers['sec-websocket-accept'], expected: wsAccept(key), messages });
              }
            },
            head,
          );
        });
        req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });

    it('upgrades through both proxies, with Host, and bytes flow both ways', async () => {
      const { accept, expected, messages } = await converse('/ws', 'hello over the mesh');
      expect(accept).toBe(expected);
      expect(messages).toEqual(['welcome', 'echo: hello over the mesh']);
      expect(upgradesSeen.at(-1)).toMatchObject({ upgrade: 'websocket', 'l5d-client-id': identityOf('a') });
      expect(upgradesSeen.at(-1)!['l5d-dst-port']).toBeUndefined();
    });

    it('upgrades an absolute-form request too', async () => {
      const { messages } = await converse('http://web.proto/ws?room=1', 'absolute');
      expect(messages).toEqual(['welcome', 'echo: absolute']);
    });
  });

  describe('retries of requests with a body', () => {
    const a = () => proxies.get('a')!.ports.outbound;

    it('sends a body up to 64 KiB again on a retry', async () => {
      const body = Buffer.from('x'.repeat(1024));
      const answer = await viaProxy(a(), 'http://api.proto/flaky-body', { method: 'POST', body });
      expect(answer).toMatchObject({ status: 200, body: 'attempt 2 with 1024 bytes\n' });
      expect(bodies).toEqual([body.toString(), body.toString()]);
    });

    it('does not retry a larger body', async () => {
      const answer = await viaProxy(a(), 'http://api.proto/big-body', { method: 'POST', body: Buffer.alloc(100 * 1024, 1) });
      expect(answer.status).toBe(503);
      expect(httpCalls.get('/big-body')).toBe(1);
    });

    it('does not retry a body still streaming when the answer comes', async () => {
      const answer = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: a(), method: 'POST', path: 'http://api.proto/stream-503', headers: { host: 'api.proto', 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          req.end('the rest');
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('a first part');
      });
      expect(answer).toBe(503);
      expect(httpCalls.get('/stream-503')).toBe(1);
    });
  });

  describe('ServiceProfile routes', () => {
    const a = () => proxies.get('a')!.ports.outbound;

    it('retries a retryable route, and labels its metrics with rt_route', async () => {
      const answer = await viaProxy(a(), 'http://web.proto/flaky');
      expect(answer).toMatchObject({ status: 200, body: 'attempt 2 with 0 bytes\n' });
      const metrics = (await httpGet(`${proxies.get('a')!.adminUrl}/metrics`)).body;
      expect(metrics).toMatch(/response_total\{[^}]*authority="web\.proto\.svc\.cluster\.local:80"[^}]*rt_route="flaky"[^}]*status_code="503"[^}]*classification="failure"/);
      expect(metrics).toMatch(/response_total\{[^}]*rt_route="flaky"[^}]*status_code="200"[^}]*classification="success"/);
    });

    it('classifies by the route\'s response classes: a 404 there is a failure, and retried', async () => {
      const answer = await viaProxy(a(), 'http://web.proto/missing/7');
      expect(answer).toMatchObject({ status: 200, body: 'attempt 2\n' });
      const metrics = (await httpGet(`${proxies.get('a')!.adminUrl}/metrics`)).body;
      expect(metrics).toMatch(/response_total\{[^}]*rt_route="missing"[^}]*status_code="404"[^}]*classification="failure"/);
      // Outside the route (another method), the same 404 is a success and not retried.
      const other = await viaProxy(a(), 'http://web.proto/missing/8', { method: 'DELETE' });
      expect(other.status).toBe(404);
      expect(httpCalls.get('/missing/8')).toBe(1);
    });

    it('answers 504 when the route\'s timeout passes', async () => {
      const answer = await viaProxy(a(), 'http://web.proto/slow');
      expect(answer.status).toBe(504);
      expect(answer.headers['l5d-proxy-error']).toMatch(/no response within/);
    });

    it('retries within the profile\'s retry budget only', async () => {
      // 0 retries per request and 1 per second over 3 s: 3 retries, then none.
      const first = await viaProxy(a(), 'http://tight.proto/down');
      expect(first.status).toBe(503);
      expect(httpCalls.get('/down')).toBe(4);
      const second = await viaProxy(a(), 'http://tight.proto/down');
      expect(second.status).toBe(503);
      expect(httpCalls.get('/down')).toBe(5);
    });

    it('lets the OutboundPolicy win for a service with an HTTPRoute', async () => {
      // api's profile would time /slow out after 100 ms; its HTTPRoute sets no timeout.
      const answer = await viaProxy(a(), 'http://api.proto/slow');
      expect(answer).toMatchObject({ status: 200, body: 'slow\n' });
    });
  });
});
