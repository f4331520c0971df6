import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destination, identity } from './index.js';

const firstUpdate: destination.Update = {
  update: {
    $case: 'add',
    add: {
      addrs: [
        {
          addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000001 } }, port: 8080 },
          weight: 10_000,
          metricLabels: { pod: 'web-0' },
          tlsIdentity: {
            strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.default.serviceaccount.identity.linkerd.cluster.local' } },
            serverName: undefined,
          },
          protocolHint: { protocol: { $case: 'h2', h2: {} }, opaqueTransport: undefined },
          authorityOverride: undefined,
          http2: { keepAlive: { interval: { seconds: 10n, nanos: 0 }, timeout: undefined, whileIdle: false } },
          resourceRef: {
            kind: { $case: 'resource', resource: { group: 'meshbus.io', kind: 'Workload', name: 'web-0', namespace: 'default', section: '', port: 0 } },
          },
        },
      ],
      metricLabels: { service: 'web' },
    },
  },
};

const secondUpdate: destination.Update = {
  update: { $case: 'noEndpoints', noEndpoints: { exists: true } },
};

describe('Destination over a real gRPC server', () => {
  const server = new Server();
  let address = '';
  let requests: destination.GetDestination[] = [];

  beforeAll(async () => {
    // Only Get is implemented: GetProfile must come back UNIMPLEMENTED.
    const implementation: Pick<destination.DestinationServer, 'get'> = {
      get: (call) => {
        requests.push(call.request);
        call.write(firstUpdate);
        call.write(secondUpdate);
        call.end();
      },
    };
    server.addService(destination.DestinationService, implementation);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, boundPort) =>
        error ? reject(error) : resolve(boundPort),
      );
    });
    address = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('serves the Linkerd method path', () => {
    expect(destination.DestinationService.get.path).toBe('/io.linkerd.proxy.destination.Destination/Get');
  });

  it('streams updates to a generated client', async () => {
    requests = [];
    const client = new destination.DestinationClient(address, credentials.createInsecure());
    try {
      const received: destination.Update[] = [];
      await new Promise<void>((resolve, reject) => {
        const stream = client.get({ scheme: 'k8s', path: 'web.default.svc.cluster.local:80', contextToken: 'ns:default' });
        stream.on('data', (update: destination.Update) => received.push(update));
        stream.on('error', reject);
        stream.on('end', resolve);
      });

      expect(requests).toEqual([{ scheme: 'k8s', path: 'web.default.svc.cluster.local:80', contextToken: 'ns:default' }]);
      expect(received).toEqual([firstUpdate, secondUpdate]);
    } finally {
      client.close();
    }
  });

  it('answers UNIMPLEMENTED for a method the server does not implement', async () => {
    const client = new destination.DestinationClient(address, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError>((resolve, reject) => {
        const stream = client.getProfile({ scheme: 'k8s', path: 'web.default.svc.cluster.local:80', contextToken: '' });
        stream.on('data', () => reject(new Error('expected no profile')));
        stream.on('error', resolve);
        stream.on('end', () => reject(new Error('expected an error status')));
      });

      expect(error.code).toBe(status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it('answers UNIMPLEMENTED for a service the server does not host', async () => {
    const client = new identity.IdentityClient(address, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError | null>((resolve) => {
        client.certify(
          { identity: 'web', token: Buffer.from('t'), certificateSigningRequest: Buffer.from([0x30]) },
          (err) => resolve(err),
        );
      });

      expect(error?.code).toBe(status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });
});
