import { describe, expect, it } from 'vitest';
import { MAX_CONNECT_RESPONSE_HEAD, TunnelError, connectRequest, innerIdentity, parseConnectResponse } from './tunnel.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('connectRequest', () => {
  it('asks for the authority in the request line and the Host header', () => {
    expect(connectRequest('web.shop.svc.cluster.local:8080')).toBe('CONNECT web.shop.svc.cluster.local:8080 HTTP/1.1\r\nHost: web.shop.svc.cluster.local:8080\r\n\r\n');
  });

  it.each(['web.shop.svc.cluster.local', 'web shop:80', 'web.shop:99999', 'Web.shop:80', 'web.shop:80\r\nX: y', ''])('refuses %j', (authority) => {
    expect(() => connectRequest(authority)).toThrow(TunnelError);
    expect(() => connectRequest(authority)).toThrow(/is not <host>:<port>/);
  });
});

describe('parseConnectResponse', () => {
  it('waits for the end of the head', () => {
    expect(parseConnectResponse(bytes(''))).toEqual({ kind: 'incomplete' });
    expect(parseConnectResponse(bytes('HTTP/1.1 200 Connection established\r\n'))).toEqual({ kind: 'incomplete' });
    expect(parseConnectResponse(bytes('HTTP/1.1 200 OK\r\n\r'))).toEqual({ kind: 'incomplete' });
  });

  it('opens on 200 and hands back the bytes after the head', () => {
    const answer = parseConnectResponse(bytes('HTTP/1.1 200 Connection established\r\nServer: gw\r\n\r\n\x16\x03\x03'));
    expect(answer.kind).toBe('open');
    expect(answer.kind === 'open' && [...answer.rest]).toEqual([0x16, 0x03, 0x03]);
    const bare = parseConnectResponse(bytes('HTTP/1.0 200\r\n\r\n'));
    expect(bare.kind === 'open' && bare.rest.length).toBe(0);
  });

  it('reads the port and identity of the workload the gateway chose', () => {
    const id = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
    expect(parseConnectResponse(bytes(`HTTP/1.1 200 Connection established\r\nMeshbus-Target-Port: 8080\r\nmeshbus-target-identity: ${id.toUpperCase()}\r\n\r\n`))).toEqual({
      kind: 'open',
      rest: Buffer.alloc(0),
      targetPort: 8080,
      targetIdentity: id,
    });
    expect(parseConnectResponse(bytes('HTTP/1.1 200 OK\r\n\r\n'))).toMatchObject({ kind: 'open', targetPort: undefined, targetIdentity: undefined });
  });

  it.each(['0', '65536', 'http', ''])('refuses a Meshbus-Target-Port of %j', (port) => {
    expect(parseConnectResponse(bytes(`HTTP/1.1 200 OK\r\nMeshbus-Target-Port: ${port}\r\n\r\n`))).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('is not a port') });
  });

  it.each(['', 'web shop', 'web..shop', '-web.shop', 'a'.repeat(254), 'web.shop/x'])('refuses a Meshbus-Target-Identity of %j', (identity) => {
    expect(parseConnectResponse(bytes(`HTTP/1.1 200 OK\r\nMeshbus-Target-Identity: ${identity}\r\n\r\n`))).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('is not an identity') });
  });

  it('reports a refusal with its status, reason and body line', () => {
    expect(parseConnectResponse(bytes('HTTP/1.1 403 Forbidden\r\nContent-Length: 40\r\n\r\nweb.shop is not exported'))).toEqual({
      kind: 'refused',
      status: 403,
      reason: 'Forbidden',
      body: 'web.shop is not exported',
      bodyComplete: false,
    });
    expect(parseConnectResponse(bytes('HTTP/1.1 403 Forbidden\r\n\r\nweb.shop is not exported\r\nmore'))).toMatchObject({ body: 'web.shop is not exported', bodyComplete: true });
    expect(parseConnectResponse(bytes('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown'))).toMatchObject({ status: 503, body: 'down', bodyComplete: true });
    expect(parseConnectResponse(bytes('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'))).toMatchObject({ status: 404, body: '', bodyComplete: true });
    expect(parseConnectResponse(bytes('HTTP/1.1 502 Bad Gateway\r\n\r\npartial'), true)).toMatchObject({ status: 502, body: 'partial', bodyComplete: true });
  });

  it('calls an answer that is not an HTTP response invalid', () => {
    expect(parseConnectResponse(bytes('SSH-2.0-OpenSSH\r\n'))).toMatchObject({ kind: 'invalid', problem: expect.stringMatching(/does not start with an HTTP status line/) });
    expect(parseConnectResponse(bytes('HTTP/2 200\r\n\r\n'))).toMatchObject({ kind: 'invalid' });
    expect(parseConnectResponse(bytes('HTTP/1.1 20 OK\r\n\r\n'))).toMatchObject({ kind: 'invalid' });
  });

  it('refuses a head longer than the limit', () => {
    const long = bytes(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_CONNECT_RESPONSE_HEAD)}`);
    expect(parseConnectResponse(long)).toMatchObject({ kind: 'invalid', problem: expect.stringMatching(/longer than 8192 bytes/) });
    expect(parseConnectResponse(Buffer.concat([long, bytes('\r\n\r\n')]))).toMatchObject({ kind: 'invalid' });
  });
});

describe('innerIdentity', () => {
  const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
  const canary = 'web-canary.shop.serviceaccount.identity.meshbus.cluster.local';
  const target = { authority: 'web.shop.svc.cluster.local:80', serverIdentity: web, acceptedIdentities: [web, canary] };

  it('requires the identity the gateway names when the service presents it', () => {
    expect(innerIdentity(target, canary, 'gw:4180')).toBe(canary);
    expect(innerIdentity(target, web, 'gw:4180')).toBe(web);
  });

  it("requires the endpoint's identity when the gateway names none", () => {
    expect(innerIdentity(target, undefined, 'gw:4180')).toBe(web);
    expect(innerIdentity({ ...target, acceptedIdentities: undefined }, undefined, 'gw:4180')).toBe(web);
  });

  it('refuses an identity the service does not present', () => {
    const stranger = 'db.data.serviceaccount.identity.meshbus.cluster.local';
    expect(() => innerIdentity(target, stranger, 'gw:4180')).toThrow(TunnelError);
    expect(() => innerIdentity(target, stranger, 'gw:4180')).toThrow(`the gateway at gw:4180 chose a workload of web.shop.svc.cluster.local:80 with identity ${stranger}, which is not one its workloads present (${web}, ${canary})`);
    expect(() => innerIdentity({ ...target, acceptedIdentities: [] }, canary, 'gw:4180')).toThrow(/not one its workloads present \(web\.shop/);
  });
});
