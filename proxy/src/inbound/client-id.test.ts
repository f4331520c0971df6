import { describe, expect, it } from 'vitest';
import { withClientId } from './client-id.js';

const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

describe('l5d-client-id', () => {
  it('sets the verified identity of a meshed client', () => {
    expect(withClientId({ host: 'api', accept: '*/*' }, { tls: true, clientIdentity: web, sourceIp: '10.0.0.1' })).toEqual({ host: 'api', accept: '*/*', 'l5d-client-id': web });
  });

  it('removes forged copies, in any letter case and repeated, and sets the real one', () => {
    const forged = { 'l5d-client-id': ['admin.ops', 'root'], 'L5D-Client-Id': 'boss', 'l5d-server-id': 'x', 'l5d-remote-ip': '1.2.3.4', host: 'api' };
    expect(withClientId(forged, { tls: true, clientIdentity: web, sourceIp: '10.0.0.1' })).toEqual({ host: 'api', 'l5d-client-id': web });
  });

  it('leaves no l5d-client-id for a plain client or TLS without an identity', () => {
    const forged = { 'l5d-client-id': web, host: 'api' };
    expect(withClientId(forged, { tls: false, sourceIp: '10.0.0.1' })).toEqual({ host: 'api' });
    expect(withClientId(forged, { tls: true, sourceIp: '10.0.0.1' })).toEqual({ host: 'api' });
    expect(withClientId(forged, { tls: false, clientIdentity: web, sourceIp: '10.0.0.1' })).toEqual({ host: 'api' });
  });

  it('passes the l5d- headers that are requests to the mesh, not claims', () => {
    const h = { 'l5d-dst-override': 'api.shop.svc.cluster.local:80', 'l5d-require-id': web };
    expect(withClientId(h, { tls: false, sourceIp: '10.0.0.1' })).toEqual(h);
  });

  it('returns a new map and leaves the input alone', () => {
    const input = { 'l5d-client-id': 'forged', vary: ['a', 'b'] };
    const out = withClientId(input, { tls: true, clientIdentity: web, sourceIp: '10.0.0.1' });
    expect(input).toEqual({ 'l5d-client-id': 'forged', vary: ['a', 'b'] });
    expect(out.vary).not.toBe(input.vary);
  });
});
