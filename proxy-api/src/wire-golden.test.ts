import { describe, expect, it } from 'vitest';
import { destination, httpRoute, httpTypes, identity, inbound, meta, net, outbound } from './index.js';

// Each expected value is worked out by hand from the field numbers and types
// of the public Linkerd proxy API, so a renumbered or retyped field fails here.
// Tag byte = (field number << 3) | wire type; wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
// A tag above 127 is itself a varint: 7 bits per byte, low bits first, high bit set on all but the last.

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('golden wire bytes', () => {
  it('GetDestination: scheme=1, path=2, context_token=3 (strings)', () => {
    const bytes = destination.GetDestination.encode({ scheme: 'k8s', path: 'a', contextToken: 't' }).finish();
    // 0a 03 "k8s" | 12 01 "a" | 1a 01 "t"
    expect(hex(bytes)).toBe('0a036b3873' + '120161' + '1a0174');
  });

  it('Update.no_endpoints is field 3 and NoEndpoints.exists is field 1', () => {
    const bytes = destination.Update.encode({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } }).finish();
    expect(hex(bytes)).toBe('1a020801');
  });

  it('TcpAddress: ip=1 (IPAddress.ipv4 is fixed32 field 1), port=2', () => {
    const bytes = net.TcpAddress.encode({
      ip: { ip: { $case: 'ipv4', ipv4: 0x0a000001 } },
      port: 8080,
    }).finish();
    // 0a 05 [0d 01 00 00 0a] | 10 90 3f   (10.0.0.1 little-endian; 8080 as varint)
    expect(hex(bytes)).toBe('0a050d0100000a' + '10903f');
  });

  it('IPv6 halves are fixed64 fields 1 and 2', () => {
    const bytes = net.IPv6.encode({ first: 1n, last: 2n }).finish();
    // 09 + 8 bytes little-endian | 11 + 8 bytes little-endian
    expect(hex(bytes)).toBe('090100000000000000' + '110200000000000000');
  });

  it('WeightedAddr: weight is field 3, metric_labels is map field 4', () => {
    const bytes = destination.WeightedAddr.encode({ weight: 10, metricLabels: { k: 'v' } }).finish();
    // 18 0a | 22 06 [0a 01 "k" 12 01 "v"]
    expect(hex(bytes)).toBe('180a' + '22060a016b120176');
  });

  it('WeightedAddrSet.metric_labels is map field 2', () => {
    const bytes = destination.WeightedAddrSet.encode({ addrs: [], metricLabels: { k: 'v' } }).finish();
    expect(hex(bytes)).toBe('12060a016b120176');
  });

  it('TlsIdentity: dns_like_identity=1, server_name=4', () => {
    const bytes = destination.TlsIdentity.encode({
      strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'a' } },
      serverName: { name: 'b' },
    }).finish();
    expect(hex(bytes)).toBe('0a030a0161' + '22030a0162');
  });

  it('ProtocolHint: h2=1, opaque=3, opaque_transport=2 with inbound_port=1', () => {
    const h2 = destination.ProtocolHint.encode({
      protocol: { $case: 'h2', h2: {} },
      opaqueTransport: { inboundPort: 4143 },
    }).finish();
    // 0a 00 | 12 03 [08 af 20]
    expect(hex(h2)).toBe('0a00' + '120308af20');

    const opaque = destination.ProtocolHint.encode({ protocol: { $case: 'opaque', opaque: {} } }).finish();
    expect(hex(opaque)).toBe('1a00');
  });

  it('DestinationProfile: fully_qualified_name=5, opaque_protocol=4', () => {
    const bytes = destination.DestinationProfile.encode(
      destination.DestinationProfile.fromPartial({ fullyQualifiedName: 'a', opaqueProtocol: true }),
    ).finish();
    expect(hex(bytes)).toBe('2a0161' + '2001');
  });

  it('RetryBudget: retry_ratio is float field 1, min_retries_per_second=2, ttl=3', () => {
    const bytes = destination.RetryBudget.encode({
      retryRatio: 0.2,
      minRetriesPerSecond: 10,
      ttl: { seconds: 10n, nanos: 0 },
    }).finish();
    // 0d cdcc4c3e (0.2f little-endian) | 10 0a | 1a 02 [08 0a]
    expect(hex(bytes)).toBe('0dcdcc4c3e' + '100a' + '1a02080a');
  });

  it('CertifyRequest: identity=1, token=2, certificate_signing_request=3', () => {
    const bytes = identity.CertifyRequest.encode({
      identity: 'a',
      token: Buffer.from([1]),
      certificateSigningRequest: Buffer.from([2]),
    }).finish();
    expect(hex(bytes)).toBe('0a0161' + '120101' + '1a0102');
  });

  it('CertifyResponse: leaf_certificate=1, intermediate_certificates=2 (repeated bytes)', () => {
    const bytes = identity.CertifyResponse.encode({
      leafCertificate: Buffer.from([1]),
      intermediateCertificates: [Buffer.from([2]), Buffer.from([3])],
    }).finish();
    expect(hex(bytes)).toBe('0a0101' + '120102' + '120103');
  });

  it('inbound PortSpec: workload=1, port=2', () => {
    const bytes = inbound.PortSpec.encode({ workload: 'w', port: 4143 }).finish();
    expect(hex(bytes)).toBe('0a0177' + '10af20');
  });

  it('inbound Authn.meshTLS is field 2, PermitMeshTLS.unauthenticated is field 1', () => {
    const bytes = inbound.Authn.encode({
      permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } },
    }).finish();
    expect(hex(bytes)).toBe('12020a00');
  });

  it('outbound TrafficSpec: source_workload=1, authority=3', () => {
    const bytes = outbound.TrafficSpec.encode({
      sourceWorkload: 'w',
      target: { $case: 'authority', authority: 'a:80' },
    }).finish();
    expect(hex(bytes)).toBe('0a0177' + '1a04613a3830');
  });

  it('outbound gRPC retry conditions use the gRPC status codes as field numbers', () => {
    const bytes = outbound.GrpcRoute_Retry_Conditions.encode({
      cancelled: false,
      deadineExceeded: true,
      resourceExhausted: false,
      internal: false,
      unavailable: true,
    }).finish();
    // field 4 varint -> 20 01 | field 14 varint -> 70 01
    expect(hex(bytes)).toBe('2001' + '7001');
  });

  it('HttpMethod: registered is enum field 1 (POST = 1), unregistered is string field 2', () => {
    const post = httpTypes.HttpMethod.encode({
      type: { $case: 'registered', registered: httpTypes.HttpMethod_Registered.POST },
    }).finish();
    expect(hex(post)).toBe('0801');

    const custom = httpTypes.HttpMethod.encode({ type: { $case: 'unregistered', unregistered: 'X' } }).finish();
    expect(hex(custom)).toBe('120158');
  });

  it('meta Metadata.resource is field 2; Resource kind=2, name=3', () => {
    const bytes = meta.Metadata.encode({
      kind: {
        $case: 'resource',
        resource: { group: '', kind: 'Server', name: 's', namespace: '', section: '', port: 0 },
      },
    }).finish();
    expect(hex(bytes)).toBe('120b' + '1206536572766572' + '1a0173');
  });

  it('WeightedAddr: http2 is field 8, resource_ref is field 9', () => {
    const bytes = destination.WeightedAddr.encode(
      destination.WeightedAddr.fromPartial({
        http2: {},
        resourceRef: { kind: { $case: 'resource', resource: { group: 'g', kind: 'k', name: 'n', namespace: 's', section: '', port: 0 } } },
      }),
    ).finish();
    // 42 00 | 4a 0e [12 0c [0a 01 "g" | 12 01 "k" | 1a 01 "n" | 22 01 "s"]]
    expect(hex(bytes)).toBe('4200' + '4a0e120c' + '0a0167' + '12016b' + '1a016e' + '220173');
  });

  it('Http2ClientParams: flow_control=1, keep_alive=2, internals=3 and their fields 1..3', () => {
    const bytes = destination.Http2ClientParams.encode({
      flowControl: { initialConnectionWindowSize: 1, initialStreamWindowSize: 2, adaptiveFlowControl: true },
      keepAlive: { interval: { seconds: 10n, nanos: 0 }, timeout: { seconds: 1n, nanos: 0 }, whileIdle: true },
      internals: { maxConcurrentResetStreams: 1, maxFrameSize: 2, maxSendBufSize: 3 },
    }).finish();
    // 0a 06 [08 01 10 02 18 01] | 12 0a [0a 02 [08 0a] 12 02 [08 01] 18 01] | 1a 06 [08 01 10 02 18 03]
    expect(hex(bytes)).toBe('0a06080110021801' + '120a0a02080a120208011801' + '1a06080110021803');
  });

  it('DestinationProfile: parent_ref=7, profile_ref=8; Resource.port is varint field 6', () => {
    const bytes = destination.DestinationProfile.encode(
      destination.DestinationProfile.fromPartial({
        parentRef: { kind: { $case: 'resource', resource: { group: '', kind: 'Service', name: '', namespace: '', section: '', port: 80 } } },
        profileRef: { kind: { $case: 'default', default: 'p' } },
      }),
    ).finish();
    // 3a 0d [12 0b [12 07 "Service" | 30 50]] | 42 03 [0a 01 "p"]
    expect(hex(bytes)).toBe('3a0d120b' + '120753657276696365' + '3050' + '42030a0170');
  });

  it('WeightedDst: authority=1, weight=2, backend_ref=3', () => {
    const bytes = destination.WeightedDst.encode({ authority: 'a', weight: 1, backendRef: { kind: { $case: 'default', default: 'b' } } }).finish();
    expect(hex(bytes)).toBe('0a0161' + '1001' + '1a030a0162');
  });

  it('inbound HttpLocalRateLimit: total=2, identity=3, overrides=4 (limit=1, clients=2), requestsPerSecond=1', () => {
    const bytes = inbound.HttpLocalRateLimit.encode({
      total: { requestsPerSecond: 100 },
      identity: { requestsPerSecond: 10 },
      overrides: [{ limit: { requestsPerSecond: 5 }, clients: { identities: [{ name: 'a' }] } }],
    }).finish();
    // 12 02 [08 64] | 1a 02 [08 0a] | 22 0b [0a 02 [08 05] | 12 05 [0a 03 [0a 01 "a"]]]
    expect(hex(bytes)).toBe('12020864' + '1a02080a' + '220b' + '0a020805' + '12050a030a0161');
  });

  it('inbound rate limits: Detect.http_local_rate_limit=4, Http1/Http2.local_rate_limit=3', () => {
    const limit = { total: { requestsPerSecond: 1 }, overrides: [] };
    const detect = inbound.ProxyProtocol_Detect.encode({ httpRoutes: [], httpLocalRateLimit: limit }).finish();
    expect(hex(detect)).toBe('2204' + '12020801');
    const http1 = inbound.ProxyProtocol_Http1.encode({ routes: [], localRateLimit: limit }).finish();
    expect(hex(http1)).toBe('1a04' + '12020801');
    const http2 = inbound.ProxyProtocol_Http2.encode({ routes: [], localRateLimit: limit }).finish();
    expect(hex(http2)).toBe('1a04' + '12020801');
  });

  it('outbound BalanceP2c.penalty_peak_ewma is field 3 with durations 1..5', () => {
    const s = (seconds: bigint) => ({ seconds, nanos: 0 });
    const bytes = outbound.Backend_BalanceP2c.encode({
      load: {
        $case: 'penaltyPeakEwma',
        penaltyPeakEwma: { defaultRtt: s(1n), decay: s(2n), penalty: s(3n), maxRetryAfter: s(4n), penaltyDecay: s(5n) },
      },
    }).finish();
    expect(hex(bytes)).toBe('1a14' + '0a020801' + '12020802' + '1a020803' + '22020804' + '2a020805');
  });

  it('outbound FailureAccrual: unified=2 (threshold is a double), ejection=3 with min_ready_endpoints=1', () => {
    const bytes = outbound.FailureAccrual.encode({
      kind: {
        $case: 'unified',
        unified: {
          successRateThreshold: 0.5,
          decay: { seconds: 10n, nanos: 0 },
          minRequests: 20,
          maxConsecutiveFailures: 7,
          backoff: { minBackoff: { seconds: 1n, nanos: 0 }, jitterRatio: 0, respectRetryAfterHint: false },
        },
      },
      ejection: { minReadyEndpoints: 2 },
    }).finish();
    // 12 17 [09 <0.5 as little-endian double> | 12 02 [08 0a] | 18 14 | 20 07 | 2a 04 [0a 02 [08 01]]] | 1a 02 [08 02]
    expect(hex(bytes)).toBe('1217' + '09000000000000e03f' + '1202080a' + '1814' + '2007' + '2a040a020801' + '1a020802');
  });

  it('outbound ExponentialBackoff.respect_retry_after_hint is bool field 4', () => {
    const bytes = outbound.ExponentialBackoff.encode({ jitterRatio: 0.5, respectRetryAfterHint: true }).finish();
    // 1d 0000003f (0.5f) | 20 01
    expect(hex(bytes)).toBe('1d0000003f' + '2001');
  });

  it('UrlRewrite (meshbus extension): host=1, path=2', () => {
    const bytes = httpRoute.UrlRewrite.encode({ host: 'h', path: { replace: { $case: 'prefix', prefix: '/p' } } }).finish();
    // 0a 01 "h" | 12 04 [12 02 "/p"]
    expect(hex(bytes)).toBe('0a0168' + '120412022f70');
  });

  it('url_rewrite is field 1000 of the inbound and outbound HTTP route filters (tag c2 3e)', () => {
    // (1000 << 3) | 2 = 8002 = 0b111110_1000010 -> varint c2 3e
    const filter = { kind: { $case: 'urlRewrite' as const, urlRewrite: { host: 'h' } } };
    expect(hex(inbound.HttpRoute_Filter.encode(filter).finish())).toBe('c23e03' + '0a0168');
    expect(hex(outbound.HttpRoute_Filter.encode(filter).finish())).toBe('c23e03' + '0a0168');
    // RouteBackend.filters is field 3
    const backend = outbound.HttpRoute_RouteBackend.encode({ filters: [filter] }).finish();
    expect(hex(backend)).toBe('1a06' + 'c23e030a0168');
  });

  it('decodes hand-written bytes into the expected message', () => {
    const bytes = Buffer.from('0a036b3873120161', 'hex');
    expect(destination.GetDestination.decode(bytes)).toEqual({ scheme: 'k8s', path: 'a', contextToken: '' });
  });
});
