import { describe, expect, it } from 'vitest';
import { destination, httpTypes, identity, inbound, meta, net, outbound } from './index.js';

// Each expected value is worked out by hand from the field numbers and types
// of the public Linkerd proxy API, so a renumbered or retyped field fails here.
// Tag byte = (field number << 3) | wire type; wire types: 0 varint, 2 length-delimited, 5 fixed32.

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

  it('decodes hand-written bytes into the expected message', () => {
    const bytes = Buffer.from('0a036b3873120161', 'hex');
    expect(destination.GetDestination.decode(bytes)).toEqual({ scheme: 'k8s', path: 'a', contextToken: '' });
  });
});
