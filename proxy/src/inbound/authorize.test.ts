import { describe, expect, it } from 'vitest';
import { requestFacts } from '../routes/match.js';
import type { inbound } from '@meshbus/proxy-api';
import { authorizeConnection, authorizeRequest } from './authorize.js';
import { refusalResponse } from './responses.js';
import { anyTls, anyone, authz, byDefault, everywhere, grpcServer, http1Server, inboundHttpRoute, meshed, network, opaqueServer, prefixMatch, resource } from './test-policy.js';

const plain = (sourceIp: string) => ({ tls: false, sourceIp });
const tlsOnly = (sourceIp: string) => ({ tls: true, sourceIp });
const withId = (clientIdentity: string, sourceIp = '10.0.0.5') => ({ tls: true, clientIdentity, sourceIp });
const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

describe('authorizeConnection: networks', () => {
  const office = opaqueServer([authz(anyone, { networks: [network('10.1.0.0/16', ['10.1.99.0/24', '10.1.98.7/32'])] })]);

  it('admits an address in the network and refuses its exceptions', () => {
    expect(authorizeConnection(office, plain('10.1.2.3')).allowed).toBe(true);
    expect(authorizeConnection(office, plain('10.1.99.1')).allowed).toBe(false);
    expect(authorizeConnection(office, plain('10.1.98.7')).allowed).toBe(false);
    expect(authorizeConnection(office, plain('10.1.98.8')).allowed).toBe(true);
    expect(authorizeConnection(office, plain('10.2.0.1')).allowed).toBe(false);
  });

  it('reads IPv4 clients of a dual-stack listener (::ffff:a.b.c.d) as IPv4', () => {
    expect(authorizeConnection(office, plain('::ffff:10.1.2.3')).allowed).toBe(true);
    expect(authorizeConnection(office, plain('::ffff:10.1.99.3')).allowed).toBe(false);
  });

  it('matches IPv6 networks, with exceptions and zones', () => {
    const v6 = opaqueServer([authz(anyone, { networks: [network('fd00::/16', ['fd00:1::/32']), network('fe80::/10')] })]);
    expect(authorizeConnection(v6, plain('fd00:2::1')).allowed).toBe(true);
    expect(authorizeConnection(v6, plain('fd00:1::1')).allowed).toBe(false);
    expect(authorizeConnection(v6, plain('fd01::1')).allowed).toBe(false);
    expect(authorizeConnection(v6, plain('fe80::1%eth0')).allowed).toBe(true);
    // An IPv4 network does not take IPv6 addresses, nor the other way round.
    expect(authorizeConnection(v6, plain('10.0.0.1')).allowed).toBe(false);
    expect(authorizeConnection(office, plain('fd00::1')).allowed).toBe(false);
  });

  it('admits every address with 0.0.0.0/0 and ::/0', () => {
    const all = opaqueServer([authz(anyone, { networks: everywhere })]);
    for (const ip of ['1.2.3.4', '255.255.255.255', '::1', '2001:db8::ff']) expect(authorizeConnection(all, plain(ip)).allowed).toBe(true);
  });

  it('refuses through an authorization without networks, and a source that is not an address', () => {
    expect(authorizeConnection(opaqueServer([authz(anyone, { networks: [] })]), plain('10.0.0.1'))).toMatchObject({ allowed: false });
    expect(authorizeConnection(opaqueServer([authz(anyone)]), plain('not-an-ip'))).toEqual({ allowed: false, reason: 'the source address "not-an-ip" is not an IP address' });
  });
});

describe('authorizeConnection: authentication', () => {
  it('unauthenticated admits plain and TLS clients', () => {
    const s = opaqueServer([authz(anyone)]);
    expect(authorizeConnection(s, plain('10.0.0.1')).allowed).toBe(true);
    expect(authorizeConnection(s, tlsOnly('10.0.0.1')).allowed).toBe(true);
    expect(authorizeConnection(s, withId(web)).allowed).toBe(true);
  });

  it('meshTLS unauthenticated admits any TLS client, with or without identity, and no plain one', () => {
    const s = opaqueServer([authz(anyTls)]);
    expect(authorizeConnection(s, plain('10.0.0.1')).allowed).toBe(false);
    expect(authorizeConnection(s, tlsOnly('10.0.0.1')).allowed).toBe(true);
    expect(authorizeConnection(s, withId(web)).allowed).toBe(true);
  });

  it('meshTLS identities admit exactly the listed identity (in any letter case)', () => {
    const s = opaqueServer([authz(meshed([web]))]);
    expect(authorizeConnection(s, withId(web)).allowed).toBe(true);
    expect(authorizeConnection(s, withId(web.toUpperCase())).allowed).toBe(true);
    expect(authorizeConnection(s, withId(`x${web}`)).allowed).toBe(false);
    expect(authorizeConnection(s, tlsOnly('10.0.0.1')).allowed).toBe(false);
    // An identity counts only on a TLS connection.
    expect(authorizeConnection(s, { tls: false, clientIdentity: web, sourceIp: '10.0.0.1' }).allowed).toBe(false);
  });

  it('suffixes match whole labels below them; empty parts admit any meshed identity', () => {
    const ns = opaqueServer([authz(meshed([], [['shop', 'serviceaccount', 'identity', 'meshbus', 'cluster', 'local']]))]);
    expect(authorizeConnection(ns, withId(web)).allowed).toBe(true);
    expect(authorizeConnection(ns, withId('api.other.serviceaccount.identity.meshbus.cluster.local')).allowed).toBe(false);
    expect(authorizeConnection(ns, withId('shop.serviceaccount.identity.meshbus.cluster.local')).allowed).toBe(false);
    expect(authorizeConnection(ns, withId('web.xshop.serviceaccount.identity.meshbus.cluster.local')).allowed).toBe(false);
    const anyMeshed = opaqueServer([authz(meshed([], [[]]))]);
    expect(authorizeConnection(anyMeshed, withId('anything.at.all')).allowed).toBe(true);
    expect(authorizeConnection(anyMeshed, tlsOnly('10.0.0.1')).allowed).toBe(false);
    expect(authorizeConnection(anyMeshed, plain('10.0.0.1')).allowed).toBe(false);
  });

  it('needs both the network and the authentication of one authorization', () => {
    const s = opaqueServer([authz(meshed([web]), { networks: [network('10.0.0.0/8')] })]);
    expect(authorizeConnection(s, withId(web, '10.9.9.9')).allowed).toBe(true);
    expect(authorizeConnection(s, withId(web, '192.168.0.1')).allowed).toBe(false);
  });

  it('an authorization without authentication admits nobody', () => {
    const s = opaqueServer([{ networks: everywhere, labels: {}, metadata: resource('AuthorizationPolicy', 'shop', 'broken') }]);
    expect(authorizeConnection(s, plain('10.0.0.1')).allowed).toBe(false);
  });

  it('names the authorization with Linkerd metric labels, and says why', () => {
    const s = opaqueServer([authz(meshed([web]), { metadata: resource('AuthorizationPolicy', 'shop', 'web-to-db') })]);
    expect(authorizeConnection(s, withId(web))).toEqual({
      allowed: true,
      audit: false,
      authorization: {
        ref: { kind: 'AuthorizationPolicy', group: 'policy.linkerd.io', namespace: 'shop', name: 'web-to-db' },
        labels: { authz_group: 'policy.linkerd.io', authz_kind: 'authorizationpolicy', authz_name: 'web-to-db' },
      },
      reason: `client 10.0.0.5 (identity ${web}) is authorized by authorizationpolicy shop/web-to-db`,
    });
    expect(authorizeConnection(s, plain('10.0.0.9'))).toEqual({ allowed: false, reason: 'no authorization admits client 10.0.0.9 (no TLS)' });
    expect(authorizeConnection(opaqueServer([]), plain('10.0.0.9'))).toEqual({ allowed: false, reason: 'no authorization admits anyone here, so client 10.0.0.9 (no TLS) is refused' });
  });

  it('labels a default authorization as kind default', () => {
    const s = opaqueServer([authz(anyone, { metadata: byDefault('all-unauthenticated') })]);
    expect(authorizeConnection(s, plain('10.0.0.1'))).toMatchObject({ allowed: true, audit: false, authorization: { labels: { authz_group: '', authz_kind: 'default', authz_name: 'all-unauthenticated' } } });
  });
});

describe('audit', () => {
  const auditDefault = authz(anyone, { metadata: byDefault('audit') });

  it('admits through the audit default and marks the decision audit', () => {
    const d = authorizeConnection(opaqueServer([auditDefault]), plain('10.0.0.1'));
    expect(d).toMatchObject({ allowed: true, audit: true, authorization: { labels: { authz_kind: 'default', authz_name: 'audit' } } });
    expect(d.reason).toBe('client 10.0.0.1 (no TLS) is let in by the audit default; a deny would refuse it');
  });

  it('prefers any other authorization that admits the client', () => {
    const s = opaqueServer([auditDefault, authz(meshed([web]))]);
    expect(authorizeConnection(s, withId(web))).toMatchObject({ allowed: true, audit: false, authorization: { labels: { authz_name: 'allow' } } });
    expect(authorizeConnection(s, plain('10.0.0.1'))).toMatchObject({ allowed: true, audit: true });
  });
});

describe('authorizeRequest', () => {
  const books = inboundHttpRoute(resource('HTTPRoute', 'shop', 'read-books', 'gateway.networking.k8s.io'), [authz(meshed([web]))], [prefixMatch('/books')]);
  const health = inboundHttpRoute(byDefault('probe'), [authz(anyone, { metadata: byDefault('probe') })], [{ path: { kind: { $case: 'exact', exact: '/ready' } }, headers: [], queryParams: [] }]);
  const server = http1Server([], [books, health]);
  const get = (path: string) => requestFacts('GET', path, {}, 'web.shop:8080');

  it('authorizes a request by its route’s authorizations', () => {
    const d = authorizeRequest(server, withId(web), get('/books/12'));
    expect(d).toMatchObject({
      outcome: 'allowed',
      audit: false,
      route: { labels: { route_group: 'gateway.networking.k8s.io', route_kind: 'httproute', route_name: 'read-books' } },
      authorization: { labels: { authz_name: 'allow' } },
      rule: { kind: 'http', match: prefixMatch('/books') },
    });
  });

  it('refuses a client the route does not authorize with 403, even one another route admits', () => {
    const d = authorizeRequest(server, plain('10.0.0.1'), get('/books/12'));
    expect(d).toEqual({
      outcome: 'denied',
      route: { ref: { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', namespace: 'shop', name: 'read-books' }, labels: { route_group: 'gateway.networking.k8s.io', route_kind: 'httproute', route_name: 'read-books' } },
      reason: 'no authorization admits client 10.0.0.1 (no TLS) on httproute shop/read-books',
    });
    expect(refusalResponse(d, false)).toMatchObject({ status: 403, headers: { 'l5d-proxy-error': d.reason } });
    expect(refusalResponse(d, true)).toMatchObject({ status: 200, headers: { 'grpc-status': '7' } });
    expect(authorizeRequest(server, plain('10.0.0.1'), get('/ready'))).toMatchObject({ outcome: 'allowed', route: { labels: { route_kind: 'default', route_name: 'probe' } } });
  });

  it('answers a request no route matches with 404 (gRPC: UNIMPLEMENTED)', () => {
    const d = authorizeRequest(server, withId(web), get('/music'));
    expect(d).toEqual({ outcome: 'no-route', reason: 'no route of the server matches GET /music (host web.shop)' });
    expect(refusalResponse(d, false)?.status).toBe(404);
    expect(refusalResponse(d, true)?.headers['grpc-status']).toBe('12');
  });

  it('uses the route’s list only: the server-level list does not add to it', () => {
    // The policy service already puts the server's grants in each route; a route with an empty list refuses.
    const s = http1Server([authz(anyone)], [inboundHttpRoute(byDefault('default'), [], [prefixMatch('/')])]);
    expect(authorizeRequest(s, plain('10.0.0.1'), get('/'))).toMatchObject({ outcome: 'denied' });
  });

  it('returns the matched rule’s filters with the decision', () => {
    const filters: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { remove: ['x-debug'] } } }];
    const s = http1Server([], [inboundHttpRoute(byDefault('default'), [authz(anyone)], [prefixMatch('/')], filters)]);
    expect(authorizeRequest(s, plain('10.0.0.1'), get('/x'))).toMatchObject({ outcome: 'allowed', rule: { kind: 'http', filters } });
  });

  it('routes gRPC calls on a gRPC server by service and method', () => {
    const cart: inbound.GrpcRoute = {
      metadata: resource('GRPCRoute', 'shop', 'cart', 'gateway.networking.k8s.io'),
      hosts: [],
      authorizations: [authz(meshed([web]))],
      rules: [{ matches: [{ rpc: { service: 'shop.v1.Cart', method: '' }, headers: [] }], filters: [] }],
    };
    const s = grpcServer([], [cart]);
    const call = (path: string) => requestFacts('POST', path, { 'content-type': 'application/grpc' }, 'cart.shop:9090');
    expect(authorizeRequest(s, withId(web), call('/shop.v1.Cart/Add'))).toMatchObject({ outcome: 'allowed', rule: { kind: 'grpc' }, route: { labels: { route_kind: 'grpcroute', route_name: 'cart' } } });
    expect(authorizeRequest(s, tlsOnly('10.0.0.1'), call('/shop.v1.Cart/Add'))).toMatchObject({ outcome: 'denied' });
    expect(authorizeRequest(s, withId(web), call('/shop.v1.Orders/List'))).toMatchObject({ outcome: 'no-route' });
  });

  it('an opaque server routes no requests', () => {
    expect(authorizeRequest(opaqueServer([authz(anyone)]), plain('10.0.0.1'), get('/'))).toEqual({ outcome: 'no-route', reason: "the server's protocol (opaque) has no HTTP routes" });
  });

  it('marks audited requests', () => {
    const s = http1Server([], [inboundHttpRoute(byDefault('default'), [authz(anyone, { metadata: byDefault('audit') })], [prefixMatch('/')])]);
    expect(authorizeRequest(s, plain('10.0.0.1'), get('/'))).toMatchObject({ outcome: 'allowed', audit: true });
  });
});
