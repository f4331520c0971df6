import { describe, expect, it } from 'vitest';
import { http2RequestHeaders, upgradeRequestHeaders } from './http-headers.js';

describe('headers of an HTTP/2 hop', () => {
  it('keeps te: trailers and end-to-end headers, drops hop-by-hop, host, expect and the mesh-only headers', () => {
    const out = http2RequestHeaders({
      host: 'web.shop',
      te: 'trailers, deflate',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      expect: '100-continue',
      'l5d-dst-port': '8080',
      'l5d-orig-proto': 'HTTP/1.1',
      'content-type': 'application/grpc',
      'grpc-timeout': '300m',
    });
    expect(out).toEqual({ te: 'trailers', 'content-type': 'application/grpc', 'grpc-timeout': '300m' });
    expect(http2RequestHeaders({ te: 'gzip' })).toEqual({});
  });
});

describe('headers of an upgrade request', () => {
  it('puts Connection: upgrade and the Upgrade header back', () => {
    expect(upgradeRequestHeaders({ upgrade: 'websocket', connection: 'Upgrade' }, { 'sec-websocket-key': 'k' })).toEqual({ 'sec-websocket-key': 'k', connection: 'upgrade', upgrade: 'websocket' });
  });
});
