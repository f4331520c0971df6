import { describe, expect, it } from 'vitest';
import { destination, httpTypes, identity, inbound, outbound, type meta, type net } from './index.js';

const ipv4 = (a: number, b: number, c: number, d: number): net.IPAddress => ({
  ip: { $case: 'ipv4', ipv4: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0 },
});

const ref = (group: string, kind: string, name: string, namespace: string, port = 0): meta.Metadata => ({
  kind: { $case: 'resource', resource: { group, kind, name, namespace, section: '', port } },
});

const seconds = (n: bigint) => ({ seconds: n, nanos: 0 });

const roundTrip = <T>(codec: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T }, message: T): T =>
  codec.decode(codec.encode(message).finish());

describe('destination.Update', () => {
  it('round-trips an add with a fully described endpoint', () => {
    const update: destination.Update = {
      update: {
        $case: 'add',
        add: {
          addrs: [
            {
              addr: { ip: ipv4(10, 1, 2, 3), port: 8080 },
              weight: 10_000,
              metricLabels: { pod: 'web-0', zone: 'a' },
              tlsIdentity: {
                strategy: {
                  $case: 'dnsLikeIdentity',
                  dnsLikeIdentity: { name: 'web.default.serviceaccount.identity.linkerd.cluster.local' },
                },
                serverName: { name: 'web.default.serviceaccount.identity.linkerd.cluster.local' },
              },
              protocolHint: {
                protocol: { $case: 'h2', h2: {} },
                opaqueTransport: { inboundPort: 4143 },
              },
              authorityOverride: undefined,
              http2: {
                flowControl: { initialConnectionWindowSize: 1 << 20, initialStreamWindowSize: 1 << 16, adaptiveFlowControl: false },
                keepAlive: { interval: seconds(10n), timeout: seconds(3n), whileIdle: true },
                internals: { maxConcurrentResetStreams: 20, maxFrameSize: 16_384, maxSendBufSize: 409_600 },
              },
              resourceRef: ref('meshbus.io', 'Workload', 'web-0', 'default'),
            },
          ],
          metricLabels: { service: 'web', namespace: 'default' },
        },
      },
    };

    const decoded = roundTrip(destination.Update, update);

    expect(decoded).toEqual(update);
    expect(decoded.update?.$case).toBe('add');
  });

  it('round-trips a remove', () => {
    const update: destination.Update = {
      update: {
        $case: 'remove',
        remove: {
          addrs: [
            { ip: ipv4(10, 1, 2, 3), port: 8080 },
            { ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd00_0000_0000_0000n, last: 1n } } }, port: 8080 },
          ],
        },
      },
    };

    expect(roundTrip(destination.Update, update)).toEqual(update);
  });

  it.each([true, false])('round-trips no_endpoints{exists: %s}', (exists) => {
    const update: destination.Update = { update: { $case: 'noEndpoints', noEndpoints: { exists } } };

    expect(roundTrip(destination.Update, update)).toEqual(update);
  });

  it('decodes an empty message as an update with no case set', () => {
    expect(destination.Update.decode(new Uint8Array())).toEqual({ update: undefined });
  });
});

describe('destination.DestinationProfile', () => {
  it('round-trips routes, retry budget and traffic split', () => {
    const profile: destination.DestinationProfile = {
      fullyQualifiedName: 'web.default.svc.cluster.local',
      opaqueProtocol: false,
      routes: [
        {
          condition: {
            match: {
              $case: 'all',
              all: {
                matches: [
                  { match: { $case: 'path', path: { regex: '/api/.*' } } },
                  {
                    match: {
                      $case: 'method',
                      method: { type: { $case: 'registered', registered: httpTypes.HttpMethod_Registered.POST } },
                    },
                  },
                ],
              },
            },
          },
          responseClasses: [
            {
              condition: { match: { $case: 'status', status: { min: 500, max: 599 } } },
              isFailure: true,
            },
          ],
          metricsLabels: { route: 'api' },
          isRetryable: true,
          timeout: { seconds: 2n, nanos: 500_000_000 },
        },
      ],
      retryBudget: { retryRatio: 0.25, minRetriesPerSecond: 10, ttl: { seconds: 10n, nanos: 0 } },
      dstOverrides: [
        { authority: 'web-v1.default.svc.cluster.local:80', weight: 900, backendRef: ref('core', 'Service', 'web-v1', 'default', 80) },
        { authority: 'web-v2.default.svc.cluster.local:80', weight: 100 },
      ],
      endpoint: undefined,
      parentRef: ref('core', 'Service', 'web', 'default', 80),
      profileRef: ref('linkerd.io', 'ServiceProfile', 'web.default.svc.cluster.local', 'default'),
    };

    const decoded = roundTrip(destination.DestinationProfile, profile);

    expect(decoded).toEqual(profile);
    expect(decoded.routes[0]?.timeout).toEqual({ seconds: 2n, nanos: 500_000_000 });
    expect(decoded.dstOverrides.map((d) => d.weight)).toEqual([900, 100]);
  });
});

describe('inbound.Server', () => {
  it('round-trips an HTTP/1 server with a local rate limit and a URL rewrite filter', () => {
    const server: inbound.Server = {
      protocol: {
        kind: {
          $case: 'http1',
          http1: {
            routes: [
              {
                metadata: ref('gateway.networking.k8s.io', 'HTTPRoute', 'web', 'default'),
                hosts: [],
                authorizations: [],
                rules: [
                  {
                    matches: [],
                    filters: [{ kind: { $case: 'urlRewrite', urlRewrite: { host: 'web.internal', path: { replace: { $case: 'full', full: '/v2' } } } } }],
                  },
                ],
              },
            ],
            localRateLimit: {
              metadata: ref('policy.linkerd.io', 'HTTPLocalRateLimitPolicy', 'web', 'default'),
              total: { requestsPerSecond: 1000 },
              identity: { requestsPerSecond: 100 },
              overrides: [{ limit: { requestsPerSecond: 500 }, clients: { identities: [{ name: 'batch.default.serviceaccount.identity.linkerd.cluster.local' }] } }],
            },
          },
        },
      },
      serverIps: [ipv4(10, 1, 2, 3)],
      authorizations: [],
      labels: { kind: 'default', name: 'all-unauthenticated' },
    };

    expect(roundTrip(inbound.Server, server)).toEqual(server);
  });
});

describe('outbound.OutboundPolicy', () => {
  it('round-trips penalty EWMA balancing, unified failure accrual and Retry-After backoff', () => {
    const backoff: outbound.ExponentialBackoff = { minBackoff: seconds(1n), maxBackoff: seconds(60n), jitterRatio: 0.5, respectRetryAfterHint: true };
    const policy: outbound.OutboundPolicy = {
      metadata: ref('core', 'Service', 'web', 'default', 80),
      protocol: {
        kind: {
          $case: 'http2',
          http2: {
            routes: [
              {
                metadata: { kind: { $case: 'default', default: 'http' } },
                hosts: [],
                rules: [
                  {
                    matches: [],
                    filters: [{ kind: { $case: 'urlRewrite', urlRewrite: { host: '', path: { replace: { $case: 'prefix', prefix: '/api' } } } } }],
                    backends: {
                      kind: {
                        $case: 'firstAvailable',
                        firstAvailable: {
                          backends: [
                            {
                              backend: {
                                metadata: ref('core', 'Service', 'web', 'default', 80),
                                kind: {
                                  $case: 'balancer',
                                  balancer: {
                                    discovery: { kind: { $case: 'dst', dst: { path: 'web.default.svc.cluster.local:80' } } },
                                    load: {
                                      $case: 'penaltyPeakEwma',
                                      penaltyPeakEwma: {
                                        defaultRtt: seconds(0n),
                                        decay: seconds(10n),
                                        penalty: seconds(1n),
                                        maxRetryAfter: seconds(30n),
                                        penaltyDecay: seconds(5n),
                                      },
                                    },
                                  },
                                },
                                queue: { capacity: 100, failfastTimeout: seconds(3n) },
                              },
                              filters: [{ kind: { $case: 'urlRewrite', urlRewrite: { host: 'web.internal' } } }],
                            },
                          ],
                        },
                      },
                    },
                    allowL5dRequestHeaders: false,
                    retry: { maxRetries: 3, maxRequestBytes: 65_536, conditions: { statusRanges: [{ start: 500, end: 599 }] }, backoff },
                  },
                ],
              },
            ],
            failureAccrual: {
              kind: {
                $case: 'unified',
                unified: { successRateThreshold: 0.8, decay: seconds(30n), minRequests: 20, maxConsecutiveFailures: 7, backoff },
              },
              ejection: { minReadyEndpoints: 1 },
            },
          },
        },
      },
    };

    const decoded = roundTrip(outbound.OutboundPolicy, policy);

    expect(decoded).toEqual(policy);
  });
});

describe('identity', () => {
  it('round-trips a CertifyRequest', () => {
    const request: identity.CertifyRequest = {
      identity: 'web.default.serviceaccount.identity.linkerd.cluster.local',
      token: Buffer.from('service-account-token'),
      certificateSigningRequest: Buffer.from([0x30, 0x82, 0x01, 0x0a]),
    };

    expect(roundTrip(identity.CertifyRequest, request)).toEqual(request);
  });

  it('round-trips a CertifyResponse with a chain and expiry', () => {
    const response: identity.CertifyResponse = {
      leafCertificate: Buffer.from([0x30, 0x82, 0x02, 0x01]),
      intermediateCertificates: [Buffer.from([0x30, 0x01]), Buffer.from([0x30, 0x02])],
      validUntil: new Date('2030-01-02T03:04:05.678Z'),
    };

    expect(roundTrip(identity.CertifyResponse, response)).toEqual(response);
  });
});
