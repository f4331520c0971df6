import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '@meshbus/proxy';
import { freePort, httpGet } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr, parseCertificate } from '@meshbus/x509';
import { meshIdentity, repoRoot, startMesh, startMeshProxy, type Mesh } from './harness.js';

// East's multicluster gateway: a real Proxy in gateway mode on a real control
// plane. A test client plays west's proxy: mesh TLS (ALPN meshbus.tunnel) to
// the gateway, CONNECT, then bytes to a plain TCP echo endpoint, or its own
// inner mesh TLS to a meshed workload's proxy, through the tunnel.

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const hosts = { gateway: '127.0.0.71', echo: '127.0.0.72', web: '127.0.0.73', down: '127.0.0.74' } as const;
const gatewayIdentity = meshIdentity('meshbus', 'multicluster-gateway');
const webIdentity = meshIdentity('shop', 'web');
const clientIdentity = meshIdentity('shop', 'front');
const strangerIdentity = meshIdentity('other', 'intruder');

/** Services of `manifests` exported to linked clusters unless named in `unexported`. */
function manifests(appPort: number, unexported: readonly string[] = []): string {
  const exported = (name: string) => (unexported.includes(name) ? '' : `, labels: {mirror.meshbus.io/exported: "true"}`);
  return `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: meshbus}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: echo, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: multicluster-gateway, namespace: meshbus}
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: echo-1, namespace: shop, labels: {app: echo}}
spec:
  address: ${hosts.echo}
  ports: [{name: tcp, port: ${appPort}}]
  serviceAccount: echo
  meshed: false
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  address: ${hosts.web}
  ports: [{name: http, port: ${appPort}}]
  serviceAccount: web
---
# Nothing listens at down-1's address.
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: down-1, namespace: shop, labels: {app: down}}
spec:
  address: ${hosts.down}
  ports: [{name: tcp, port: ${appPort}}]
  serviceAccount: echo
  meshed: false
---
apiVersion: v1
kind: Service
metadata: {name: down, namespace: shop${exported('down')}}
spec:
  selector: {app: down}
  ports: [{name: tcp, port: 7000, targetPort: tcp}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: shop${exported('echo')}}
spec:
  selector: {app: echo}
  ports: [{name: tcp, port: 7000, targetPort: tcp}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop${exported('web')}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
# Served by the same echo workload, never exported.
apiVersion: v1
kind: Service
metadata: {name: private, namespace: shop}
spec:
  selector: {app: echo}
  ports: [{name: tcp, port: 7000, targetPort: tcp}]
`;
}

interface ClientCertificate {
  readonly certificatePem: string;
  readonly chainPem: string;
  readonly privateKeyPem: string;
}

/** TLS options of a mesh client that presents `certificate` and requires the server to be `serverIdentity`. */
function meshClientOptions(anchorsPem: string, certificate: ClientCertificate, serverIdentity: string, alpn: string) {
  return {
    ca: anchorsPem,
    cert: certificate.certificatePem + certificate.chainPem,
    key: certificate.privateKeyPem,
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
    servername: serverIdentity,
    ALPNProtocols: [alpn],
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, peer: PeerCertificate) => {
      const names = (parseCertificate(peer.raw).subjectAltNames ?? []).flatMap((n) => (n.type === 'dns' ? [n.value] : []));
      return names.includes(serverIdentity) ? undefined : new Error(`the server is ${names.join(', ')}, not ${serverIdentity}`);
    },
  };
}

/** A tunnel's answer: its status line and headers, what followed them so far, and the socket. */
interface TunnelAnswer {
  readonly status: number;
  readonly head: string;
  readonly rest: Buffer;
  readonly socket: TLSSocket;
}

describe('the multicluster gateway (proxy in gateway mode)', () => {
  let mesh: Mesh;
  let dir: string;
  let anchorsPem: string;
  let ca: CertificateAuthority;
  let gateway: Proxy;
  let web: Proxy;
  let gatewayPort: number;
  let appPort: number;
  let manifestsDir: string;
  let echoServer: NetServer;
  let webApp: HttpServer;
  const accessLog: string[] = [];

  async function certify(identity: string): Promise<ClientCertificate> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await ca.issue({ identity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] }) });
    return {
      certificatePem: new X509Certificate(Buffer.from(issued.leafDer)).toString(),
      chainPem: issued.intermediatesDer.map((d) => new X509Certificate(Buffer.from(d)).toString()).join(''),
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }

  /** Mesh TLS to the gateway as `certificate`, then `request`; resolves once the answer's head is in. */
  function openTunnel(certificate: ClientCertificate, request: string | Buffer): Promise<TunnelAnswer> {
    return new Promise((resolve, reject) => {
      // Half-open, as a client proxy carries opaque TCP: ending our side leaves the answer coming.
      const options = { host: hosts.gateway, port: gatewayPort, allowHalfOpen: true, ...meshClientOptions(anchorsPem, certificate, gatewayIdentity, 'meshbus.tunnel') };
      const socket = tlsConnect(options);
      let received = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        const head = received.subarray(0, end).toString('latin1');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), head, rest: received.subarray(end + 4), socket });
      };
      socket.once('secureConnect', () => {
        expect(socket.alpnProtocol).toBe('meshbus.tunnel');
        socket.write(request);
      });
      socket.on('data', onData);
      socket.once('error', reject);
      const closed = (): void => reject(new Error(`the gateway closed the connection; received ${JSON.stringify(received.toString('latin1'))}`));
      socket.once('end', closed);
      socket.once('close', closed);
    });
  }

  /** The rest of a refused tunnel's answer: its body, once the gateway closed. */
  function body(answer: TunnelAnswer): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks = [answer.rest];
      answer.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.socket.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      answer.socket.once('error', reject);
      answer.socket.resume();
    });
  }

  const connectTo = (authority: string) => `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-mc-gateway-'));
    const identityDir = join(dir, 'identity');
    cli(['identity', 'init', '--dir', identityDir]);
    anchorsPem = await readFile(join(identityDir, 'ca.crt'), 'utf8');
    ca = CertificateAuthority.fromPem({
      trustAnchorsPem: anchorsPem,
      issuerCertificatePem: await readFile(join(identityDir, 'issuer.crt'), 'utf8'),
      issuerKeyPem: await readFile(join(identityDir, 'issuer.key'), 'utf8'),
    });
    appPort = await freePort(hosts.echo);
    const inboundPort = await freePort(hosts.web);
    gatewayPort = await freePort(hosts.gateway);
    manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'shop.yaml'), manifests(appPort));
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: manifestsDir, identityDir });

    // The echo endpoint is outside the mesh: it answers each chunk, and "bye" once the client ended its side.
    echoServer = createNetServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end('bye'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => echoServer.listen(appPort, hosts.echo, resolve));
    webApp = createHttpServer((req, res) => res.end(`hello from web; client ${String(req.headers['l5d-client-id'])}\n`));
    await new Promise<void>((resolve) => webApp.listen(appPort, hosts.web, resolve));

    const grpc = [`127.0.0.1:${mesh.gateway.grpcPort}`];
    web = await startMeshProxy({ gateways: grpc, namespace: 'shop', name: 'web-1', serviceAccount: 'web', identityDir, address: hosts.web, inboundPort, ports: [appPort] });
    gateway = await startMeshProxy(
      {
        gateways: grpc,
        namespace: 'meshbus',
        name: 'multicluster-gateway-1',
        serviceAccount: 'multicluster-gateway',
        identityDir,
        address: hosts.gateway,
        inboundPort,
        ports: [],
        env: {
          MESHBUS_PROXY_MODE: 'gateway',
          MESHBUS_PROXY_GATEWAY_ADDR: `${hosts.gateway}:${gatewayPort}`,
          MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES: '*.shop.serviceaccount.identity.meshbus.cluster.local',
          MESHBUS_PROXY_ACCESS_LOG: 'json',
        },
      },
      { accessLogSink: (line) => accessLog.push(line) },
    );
  }, 90_000);

  afterAll(async () => {
    await gateway?.stop();
    await web?.stop();
    await new Promise((resolve) => echoServer?.close(resolve));
    await new Promise((resolve) => webApp?.close(resolve));
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('is ready with its certificate, on its own identity, and listens on nothing else', async () => {
    expect((await httpGet(`${gateway.adminUrl}/ready`)).status).toBe(200);
    expect(gateway.tls.identity).toBe(gatewayIdentity);
    expect(gateway.gatewayPort).toBe(gatewayPort);
    expect(() => gateway.ports).toThrow();
  });

  it('answers 200 and relays bytes both ways to a plain TCP endpoint, half-close included', async () => {
    const answer = await openTunnel(await certify(clientIdentity), connectTo('echo.shop.svc.cluster.local:7000'));
    // The gateway names the port of the workload it chose (the echo endpoint's own port).
    expect(answer.head).toMatch(/^HTTP\/1\.1 200 Connection established\r\nMeshbus-Target-Port: \d{1,5}$/);
    const socket = answer.socket;
    const chunks: Buffer[] = [answer.rest];
    const ended = new Promise<string>((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks).toString('utf8'))));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    socket.write('ping ');
    socket.write('pong');
    await new Promise<void>((resolve) => {
      const check = (): void => (Buffer.concat(chunks).toString('utf8') === 'ping pong' ? resolve() : void socket.once('data', check));
      check();
    });
    // Our end travels to the endpoint, which still answers before it ends its side.
    socket.end();
    expect(await ended).toBe('ping pongbye');
    const metrics = (await httpGet(`${gateway.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/meshbus_proxy_gateway_tunnels_total\{result="established"\} [1-9]/);
    expect(metrics).toMatch(/meshbus_proxy_gateway_open_tunnels 0/);
    const line = accessLog.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.authority === 'echo.shop.svc.cluster.local:7000' && l.status === 200);
    expect(line).toMatchObject({ method: 'CONNECT', client_id: clientIdentity });
  });

  it('carries the client’s own mesh TLS to a meshed workload’s proxy, which sees the client’s identity', async () => {
    const client = await certify(clientIdentity);
    const answer = await openTunnel(client, connectTo('web.shop.svc.cluster.local:80'));
    // The gateway names the workload's port and the identity the client must require inside.
    expect(answer.head).toBe(`HTTP/1.1 200 Connection established\r\nMeshbus-Target-Port: ${appPort}\r\nMeshbus-Target-Identity: ${webIdentity}`);
    expect(answer.rest.length).toBe(0);
    const inner = tlsConnect({ socket: answer.socket, ...meshClientOptions(anchorsPem, client, webIdentity, 'http/1.1') });
    answer.socket.resume();
    const response = await new Promise<string>((resolve, reject) => {
      let text = '';
      inner.once('secureConnect', () => inner.write('GET / HTTP/1.1\r\nHost: web.shop.svc.cluster.local\r\nConnection: close\r\n\r\n'));
      inner.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      inner.once('end', () => resolve(text));
      inner.once('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain(`hello from web; client ${clientIdentity}`);
    inner.destroy();
  });

  it('answers 403 to an identity the allow-list does not name', async () => {
    const answer = await openTunnel(await certify(strangerIdentity), connectTo('echo.shop.svc.cluster.local:7000'));
    expect(answer.status).toBe(403);
    expect(await body(answer)).toBe(`the identity ${strangerIdentity} may not open tunnels\n`);
  });

  it('answers 403 for a service of this cluster that is not exported, and relays nothing to it', async () => {
    const answer = await openTunnel(await certify(clientIdentity), connectTo('private.shop.svc.cluster.local:7000'));
    expect(answer.status).toBe(403);
    expect(await body(answer)).toBe('private.shop.svc.cluster.local:7000 is not exported to linked clusters\n');
    const metrics = (await httpGet(`${gateway.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/meshbus_proxy_gateway_tunnels_total\{result="not_exported"\} [1-9]/);
    const line = accessLog.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.authority === 'private.shop.svc.cluster.local:7000');
    expect(line).toMatchObject({ method: 'CONNECT', status: 403 });
  });

  it('answers 404 for a service this cluster does not have, and for another cluster domain', async () => {
    const client = await certify(clientIdentity);
    const unknown = await openTunnel(client, connectTo('nothing.shop.svc.cluster.local:80'));
    expect(unknown.status).toBe(404);
    expect(await body(unknown)).toContain('nothing.shop.svc.cluster.local:80');
    const elsewhere = await openTunnel(client, connectTo('web.shop.svc.west.example:80'));
    expect(elsewhere.status).toBe(404);
    expect(await body(elsewhere)).toContain("not in this cluster's domain");
  });

  it('answers 502 when no endpoint of the service can be reached', async () => {
    const answer = await openTunnel(await certify(clientIdentity), connectTo('down.shop.svc.cluster.local:7000'));
    expect(answer.status).toBe(502);
    expect(await body(answer)).toMatch(/^no endpoint of down\.shop\.svc\.cluster\.local:7000 could be reached: .*ECONNREFUSED/);
  });

  it('answers 400 to garbage and to a header block over 8 KiB', async () => {
    const client = await certify(clientIdentity);
    const garbage = await openTunnel(client, 'GET / HTTP/1.1\r\nHost: web\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(await body(garbage)).toBe('the gateway takes CONNECT only, not GET\n');
    const huge = await openTunnel(client, `CONNECT web.shop.svc.cluster.local:80 HTTP/1.1\r\nx-fill: ${'a'.repeat(9000)}`);
    expect(huge.status).toBe(400);
    expect(await body(huge)).toContain('larger than 8192 bytes');
    const metrics = (await httpGet(`${gateway.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/meshbus_proxy_gateway_tunnels_total\{result="malformed"\} [2-9]/);
  });

  it('refuses a client whose certificate does not chain to the trust anchors', async () => {
    const now = Date.now();
    const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) };
    const anchor = createTrustAnchor({ commonName: 'root.elsewhere', validity });
    const issuer = createIssuer({ anchor, commonName: 'issuer.elsewhere', validity });
    const foreign = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await foreign.issue({ identity: clientIdentity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: clientIdentity }] }) });
    const certificate = {
      certificatePem: new X509Certificate(Buffer.from(issued.leafDer)).toString(),
      chainPem: issued.intermediatesDer.map((d) => new X509Certificate(Buffer.from(d)).toString()).join(''),
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    await expect(openTunnel(certificate, connectTo('echo.shop.svc.cluster.local:7000'))).rejects.toThrow(/closed the connection; received ""|ECONNRESET/);
  });

  it('stops relaying to a service as soon as its export is withdrawn, and relays again once it is back', async () => {
    const client = await certify(clientIdentity);
    const statusOf = async (): Promise<number> => {
      const answer = await openTunnel(client, connectTo('echo.shop.svc.cluster.local:7000'));
      answer.socket.destroy();
      return answer.status;
    };
    const until = async (status: number): Promise<number> => {
      const started = Date.now();
      while ((await statusOf()) !== status) {
        if (Date.now() - started > 10_000) throw new Error(`echo was not answered ${status} within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return Date.now() - started;
    };
    expect(await statusOf()).toBe(200);
    await writeFile(join(manifestsDir, 'shop.yaml'), manifests(appPort, ['echo']));
    const withdrawn = await until(403);
    await writeFile(join(manifestsDir, 'shop.yaml'), manifests(appPort));
    const back = await until(200);
    console.log(`export withdrawn to 403: ${withdrawn} ms; exported again to 200: ${back} ms`);
  });
});
