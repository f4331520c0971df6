import { describe, expect, it } from 'vitest';
import { AccessLog, parseAccessLogConfig, type AccessLogEntry, type LoggableHeader } from './access-log.js';

const entry: AccessLogEntry = {
  time: new Date('2026-12-02T00:04:35.123Z'),
  direction: 'inbound',
  clientAddr: '10.1.0.9:51234',
  clientId: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
  method: 'GET',
  authority: 'api.shop.svc.cluster.local:8080',
  path: '/orders/7?token=secret',
  protocol: 'HTTP/1.1',
  status: 200,
  bytes: 512,
  durationMs: 3.4567,
  headers: { 'user-agent': 'curl/8.0', authorization: 'Bearer secret', cookie: 'session=secret', 'x-request-id': 'r-1' },
};

function lines(format: 'apache' | 'json', headers?: LoggableHeader[]) {
  const out: string[] = [];
  const log = new AccessLog({ format, ...(headers === undefined ? {} : { headers }) }, (l) => out.push(l));
  return { log, out };
}

describe('access log', () => {
  it('writes the common log format with the identity as user, then authority and duration', () => {
    const { log, out } = lines('apache');
    log.record(entry);
    expect(out).toEqual([
      '10.1.0.9 - web.shop.serviceaccount.identity.meshbus.cluster.local [02/Dec/2026:00:04:35 +0000] "GET /orders/7 HTTP/1.1" 200 512 "api.shop.svc.cluster.local:8080" 3',
    ]);
  });

  it('writes dashes for what is missing, and referer and user agent as the combined format when asked', () => {
    const { log, out } = lines('apache', ['user-agent', 'referer']);
    const { clientId: _c, status: _s, ...rest } = entry;
    log.record({ ...rest, clientAddr: '[::1]:4000', bytes: 0 });
    expect(out[0]).toBe('::1 - - [02/Dec/2026:00:04:35 +0000] "GET /orders/7 HTTP/1.1" - - "-" "curl/8.0" "api.shop.svc.cluster.local:8080" 3');
  });

  it('escapes quotes and control characters so a line cannot be split or forged', () => {
    const { log, out } = lines('apache');
    log.record({ ...entry, path: '/a"b\n10.0.0.1 - - [x] "GET /', method: 'GET' });
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('"GET /a\\"b\\x0a10.0.0.1 - - [x] \\"GET / HTTP/1.1"');
    expect(out[0]).not.toContain('\n');
  });

  it('writes JSON lines, with only allowlisted headers', () => {
    const { log, out } = lines('json', ['user-agent', 'x-request-id']);
    log.record({ ...entry, grpcStatus: 0 });
    expect(JSON.parse(out[0]!)).toEqual({
      time: '2026-12-02T00:04:35.123Z',
      direction: 'inbound',
      client_addr: '10.1.0.9:51234',
      client_id: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      method: 'GET',
      authority: 'api.shop.svc.cluster.local:8080',
      path: '/orders/7',
      protocol: 'HTTP/1.1',
      status: 200,
      grpc_status: 0,
      bytes: 512,
      duration_ms: 3.457,
      user_agent: 'curl/8.0',
      x_request_id: 'r-1',
    });
  });

  it('never writes header values outside the allowlist, nor the query string', () => {
    for (const format of ['apache', 'json'] as const) {
      const { log, out } = lines(format, ['user-agent', 'referer', 'x-request-id', 'traceparent', 'content-type']);
      log.record(entry);
      expect(out[0]).not.toContain('secret');
    }
    expect(() => new AccessLog({ format: 'json', headers: ['authorization' as LoggableHeader] }, () => {})).toThrow(/accessLog\.headers: "authorization" is not one of/);
  });

  it('is off unless a format is configured; a wrong format names the setting', () => {
    expect(parseAccessLogConfig(undefined, 'MESHBUS_PROXY_ACCESS_LOG')).toBeUndefined();
    expect(parseAccessLogConfig('off', 'MESHBUS_PROXY_ACCESS_LOG')).toBeUndefined();
    expect(parseAccessLogConfig('json', 'MESHBUS_PROXY_ACCESS_LOG')).toEqual({ format: 'json' });
    expect(() => parseAccessLogConfig('xml', 'MESHBUS_PROXY_ACCESS_LOG')).toThrow('MESHBUS_PROXY_ACCESS_LOG: access log format must be off, apache or json, got "xml"');
  });
});
