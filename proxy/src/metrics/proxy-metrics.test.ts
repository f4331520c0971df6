import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IdentityMetrics, ProxyMetrics, latencyBucketsMs, type InboundLabels, type OutboundLabels, type TcpLabels } from './index.js';

/** A sample as prom-client's get() returns it; histogram samples name their series. */
interface Sample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly metricName?: string;
}

function setup(maxAuthorities?: number) {
  let t = 1000;
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry, { now: () => t, ...(maxAuthorities === undefined ? {} : { maxAuthorities }) });
  const advance = (ms: number): void => {
    t += ms;
  };
  const series = async (name: string): Promise<Sample[]> => (await registry.getSingleMetric(name)!.get()).values as Sample[];
  return { registry, metrics, advance, series };
}

const outbound: OutboundLabels = {
  direction: 'outbound',
  targetAddr: '10.1.0.7:8080',
  tls: { established: true, peerIdentity: 'api.shop.serviceaccount.identity.meshbus.cluster.local' },
  authority: 'api.shop.svc.cluster.local:8080',
  dst: { namespace: 'shop', service: 'api', pod: 'api-1', 'app.kubernetes.io/name': 'api' },
  route: { kind: { $case: 'resource', resource: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api-canary', namespace: 'shop', section: '', port: 0 } } },
};

const inbound: InboundLabels = {
  direction: 'inbound',
  targetAddr: '10.1.0.5:8080',
  tls: { established: false, reason: 'no_tls_from_remote' },
  server: { kind: { $case: 'default', default: 'all-unauthenticated' } },
  authz: { kind: { $case: 'default', default: 'all-unauthenticated' } },
  route: { kind: { $case: 'default', default: 'default' } },
};

describe('requests', () => {
  it('counts requests and labels them as Linkerd does (outbound)', async () => {
    const { metrics, series } = setup();
    metrics.startRequest(outbound);
    metrics.startRequest(outbound);
    const [s] = await series('request_total');
    expect(s?.value).toBe(2);
    expect(s?.labels).toEqual({
      direction: 'outbound',
      authority: 'api.shop.svc.cluster.local:8080',
      target_addr: '10.1.0.7:8080',
      target_ip: '10.1.0.7',
      target_port: '8080',
      tls: 'true',
      server_id: 'api.shop.serviceaccount.identity.meshbus.cluster.local',
      route_group: 'gateway.networking.k8s.io',
      route_kind: 'httproute',
      route_name: 'api-canary',
      route_namespace: 'shop',
      dst_namespace: 'shop',
      dst_service: 'api',
      dst_pod: 'api-1',
    });
  });

  it('labels inbound traffic with the server, authorization, route and no_tls_reason', async () => {
    const { metrics, series } = setup();
    metrics.startRequest(inbound);
    const [s] = await series('request_total');
    expect(s?.labels).toEqual({
      direction: 'inbound',
      target_addr: '10.1.0.5:8080',
      target_ip: '10.1.0.5',
      target_port: '8080',
      tls: 'no_identity',
      no_tls_reason: 'no_tls_from_remote',
      srv_group: '',
      srv_kind: 'default',
      srv_name: 'all-unauthenticated',
      srv_port: '8080',
      authz_group: '',
      authz_kind: 'default',
      authz_name: 'all-unauthenticated',
      route_group: '',
      route_kind: 'default',
      route_name: 'default',
    });
  });

  it('classifies responses by HTTP status, or by gRPC status when there is one', async () => {
    const { metrics, series } = setup();
    const respond = (status: number, grpc?: number, trailer?: number): void => {
      const r = metrics.startRequest(inbound);
      r.respond(status, grpc);
      if (trailer !== undefined) r.trailers(trailer);
      r.end();
    };
    respond(200);
    respond(404);
    respond(503);
    respond(200, 0);
    respond(200, undefined, 14);
    const got = (await series('response_total')).map((s) => [s.labels.status_code, s.labels.grpc_status, s.labels.classification, s.value]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['200', undefined, 'success', 1],
        ['404', undefined, 'success', 1],
        ['503', undefined, 'failure', 1],
        ['200', '0', 'success', 1],
        ['200', '14', 'failure', 1],
      ]),
    );
    expect(got).toHaveLength(5);
  });

  it('measures latency to the response headers into Linkerd buckets', async () => {
    const { metrics, advance, series, registry } = setup();
    const r = metrics.startRequest(inbound);
    advance(7);
    r.respond(200);
    advance(5000);
    r.end();
    const values = await series('response_latency_ms');
    const buckets = values.filter((v) => v.metricName === 'response_latency_ms_bucket');
    expect(buckets.map((b) => b.labels.le)).toEqual([...latencyBucketsMs, '+Inf']);
    const count = (le: number) => buckets.find((b) => b.labels.le === le)?.value;
    expect(count(5)).toBe(0);
    expect(count(10)).toBe(1);
    expect(values.find((v) => v.metricName === 'response_latency_ms_sum')?.value).toBe(7);
    expect(buckets[0]?.labels.status_code).toBe('200');
    expect(buckets[0]?.labels).not.toHaveProperty('classification');
    expect(await registry.metrics()).toContain('response_latency_ms_bucket{le="50000",');
  });

  it('counts a failed request once, without a status or a latency sample', async () => {
    const { metrics, series } = setup();
    const r = metrics.startRequest(outbound);
    r.end('timeout');
    r.end();
    r.respond(200);
    const responses = await series('response_total');
    expect(responses).toHaveLength(1);
    expect(responses[0]?.labels).toMatchObject({ classification: 'failure', error: 'timeout' });
    expect(responses[0]?.labels).not.toHaveProperty('status_code');
    expect((await series('response_latency_ms')).filter((v) => v.metricName === 'response_latency_ms_count')).toEqual([]);
  });

  it('keeps the first response and marks a stream that failed after it', async () => {
    const { metrics, series } = setup();
    const r = metrics.startRequest(outbound);
    r.respond(200);
    r.respond(500);
    r.end('reset');
    const [s] = await series('response_total');
    expect(s?.labels).toMatchObject({ status_code: '200', classification: 'failure', error: 'reset' });
  });
});

describe('counts kept until a scrape', () => {
  it('adds up requests described by new objects with the same content, and counts each once across scrapes', async () => {
    const { metrics, series, registry } = setup();
    const dst = { namespace: 'shop', service: 'api', pod: 'api-1' };
    const describe = (): OutboundLabels => ({ ...outbound, dst, tls: { established: true, peerIdentity: 'api.shop.serviceaccount.identity.meshbus.cluster.local' } });
    for (let i = 0; i < 3; i++) {
      const r = metrics.startRequest(describe());
      r.respond(200);
      r.end();
    }
    expect((await series('request_total')).map((s) => s.value)).toEqual([3]);
    expect((await series('response_total')).map((s) => s.value)).toEqual([3]);
    await registry.metrics();
    metrics.startRequest(describe()).end('reset');
    expect((await series('request_total')).map((s) => s.value)).toEqual([4]);
    const responses = new Map((await series('response_total')).map((s) => [s.labels.error ?? '', s.value]));
    expect(responses).toEqual(new Map([['', 3], ['reset', 1]]));
    // Another destination object with the same labels is the same series for Prometheus.
    metrics.startRequest({ ...describe(), dst: { ...dst } });
    expect((await series('request_total')).map((s) => s.value)).toEqual([5]);
  });

  it('keeps requests of different ServiceProfile routes apart (rt_route), and a response class decides the classification', async () => {
    const { metrics, series } = setup();
    const a = metrics.startRequest({ ...outbound, profileRoute: 'books' });
    a.respond(404);
    a.end(undefined, true);
    metrics.startRequest({ ...outbound, profileRoute: 'authors' }).end();
    const byRoute = new Map((await series('request_total')).map((s) => [s.labels.rt_route, s.value]));
    expect(byRoute).toEqual(new Map([['books', 1], ['authors', 1]]));
    const books = (await series('response_total')).find((s) => s.labels.rt_route === 'books');
    expect(books?.labels).toMatchObject({ status_code: '404', classification: 'failure' });
  });

  it('loses no count when it forgets label sets past its limit', async () => {
    const { metrics, series } = setup(10_000);
    const n = 5000;
    for (let i = 0; i < n; i++) metrics.startRequest({ ...outbound, targetAddr: `10.2.${Math.floor(i / 250)}.${i % 250}:8080` });
    // The first label set again, described by a new object after its entry was forgotten.
    metrics.startRequest({ ...outbound, targetAddr: '10.2.0.0:8080' });
    const all = await series('request_total');
    expect(all).toHaveLength(n);
    expect(all.reduce((sum, s) => sum + s.value, 0)).toBe(n + 1);
    expect(all.find((s) => s.labels.target_addr === '10.2.0.0:8080')?.value).toBe(2);
  });

  it('finds an inbound series by the content of its policy references, and keeps authorization counts apart', async () => {
    const { metrics, series } = setup();
    // The inbound listener makes new policy reference objects for every request.
    metrics.httpAuthorized(structuredClone(inbound));
    metrics.httpAuthorized(structuredClone(inbound));
    metrics.startRequest(structuredClone(inbound));
    metrics.startRequest({ ...structuredClone(inbound), authz: { kind: { $case: 'default', default: 'all-authenticated' } } });
    expect((await series('inbound_http_authz_allow_total')).map((s) => s.value)).toEqual([2]);
    const requests = new Map((await series('request_total')).map((s) => [s.labels.authz_name, s.value]));
    expect(requests).toEqual(new Map([['all-unauthenticated', 1], ['all-authenticated', 1]]));
  });
});

describe('authority bounding', () => {
  it('drops authorities that are not service names, and new ones past the limit', async () => {
    const { metrics, series } = setup(2);
    for (const authority of ['a.shop.svc:80', 'b.shop.svc:80', 'c.shop.svc:80', 'a.shop.svc:80', 'Evil Host"\n', 'x'.repeat(300)]) {
      metrics.startRequest({ ...outbound, authority });
    }
    const byAuthority = new Map((await series('request_total')).map((s) => [s.labels.authority, s.value]));
    expect(byAuthority).toEqual(
      new Map<string | number | undefined, number>([
        ['a.shop.svc:80', 2],
        ['b.shop.svc:80', 1],
        [undefined, 3],
      ]),
    );
  });
});

describe('TCP connections', () => {
  const conn: TcpLabels = { ...inbound, peer: 'src' };

  it('counts opens, open connections, bytes (before and at close), closes with errno and duration', async () => {
    const { metrics, advance, series } = setup();
    const a = metrics.tcpOpen(conn);
    const b = metrics.tcpOpen(conn);
    expect((await series('tcp_open_total'))[0]?.value).toBe(2);
    expect((await series('tcp_open_connections'))[0]?.value).toBe(2);
    expect((await series('tcp_open_total'))[0]?.labels.peer).toBe('src');

    a.read(100);
    a.write(40);
    b.read(1);
    expect((await series('tcp_read_bytes_total'))[0]?.value).toBe(101);
    expect((await series('tcp_write_bytes_total'))[0]?.value).toBe(40);

    advance(250);
    a.read(9);
    a.close();
    b.close('ECONNRESET');
    b.close();
    b.read(1000);
    expect((await series('tcp_read_bytes_total'))[0]?.value).toBe(110);
    expect((await series('tcp_open_connections'))[0]?.value).toBe(0);
    const closes = new Map((await series('tcp_close_total')).map((s) => [s.labels.errno, s.value]));
    expect(closes).toEqual(new Map([['', 1], ['ECONNRESET', 1]]));
    const durations = (await series('tcp_connection_duration_ms')).filter((v) => v.metricName === 'tcp_connection_duration_ms_sum');
    expect(durations.map((d) => d.value)).toEqual([250, 250]);
  });

  it('labels odd error codes as unknown, so errno stays bounded', async () => {
    const { metrics, series } = setup();
    metrics.tcpOpen(conn).close('ERR_SSL_WRONG_VERSION_NUMBER');
    expect((await series('tcp_close_total'))[0]?.labels.errno).toBe('unknown');
  });
});

describe('inbound authorization', () => {
  it('counts denials and allows with the server and route, without direction or authority', async () => {
    const { metrics, series } = setup();
    metrics.httpDenied(inbound);
    metrics.httpDenied(inbound);
    metrics.httpAuthorized(inbound);
    metrics.tcpDenied(inbound);
    metrics.tcpAuthorized(inbound);
    metrics.routeNotFound(inbound);
    const [deny] = await series('inbound_http_authz_deny_total');
    expect(deny?.value).toBe(2);
    expect(deny?.labels).toMatchObject({ srv_name: 'all-unauthenticated', route_name: 'default', tls: 'no_identity' });
    expect(deny?.labels).not.toHaveProperty('direction');
    expect((await series('inbound_http_authz_allow_total'))[0]?.value).toBe(1);
    expect((await series('inbound_tcp_authz_deny_total'))[0]?.value).toBe(1);
    expect((await series('inbound_tcp_authz_allow_total'))[0]?.value).toBe(1);
    expect((await series('inbound_http_route_not_found_total'))[0]?.value).toBe(1);
  });
});

describe('identity', () => {
  it('exposes the certificate expiry in seconds and counts certificates', async () => {
    const registry = new Registry();
    const identity = new IdentityMetrics(registry);
    identity.certificateObtained(new Date('2026-12-03T00:00:00.500Z'));
    identity.certificateObtained(new Date('2026-12-04T00:00:00Z'));
    expect((await registry.getSingleMetric('identity_cert_expiration_timestamp_seconds')!.get()).values[0]?.value).toBe(Date.parse('2026-12-04T00:00:00Z') / 1000);
    expect((await registry.getSingleMetric('identity_cert_refresh_count')!.get()).values[0]?.value).toBe(2);
  });
});
