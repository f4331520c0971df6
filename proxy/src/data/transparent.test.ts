import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { outbound } from '@meshbus/proxy-api';
import { OriginalDestinationError, type OriginalDestination } from '../transparent/original-destination.js';
import { classifyArrival, connectionProtocol, isLoopback, plainIp, policyAuthority } from './transparent.js';
import { forwardPolicy, servicePolicy } from './transparent-test-policies.js';

/** A socket as the listener sees it: only its local address matters here. */
const socketAt = (localAddress: string, localPort: number) => ({ localAddress, localPort }) as unknown as Socket;
const dst = (address: string, port: number): (() => OriginalDestination) => () => ({ family: address.includes(':') ? 6 : 4, address, port });

describe('classifyArrival', () => {
  const local = new Set(['10.0.0.5', 'fd00::5']);
  const context = (original: () => OriginalDestination, ownPorts: number[] = [4143, 4191]) => ({ originalDestination: original, ownPorts, isLocalAddress: (ip: string) => local.has(ip) });

  it('reads a redirected connection as the address it was going to', () => {
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(dst('10.0.0.9', 8080)))).toEqual({ kind: 'redirected', ip: '10.0.0.9', port: 8080, address: '10.0.0.9:8080' });
    expect(classifyArrival(socketAt('::1', 4140), context(dst('FD00:0:0:0::9', 80)))).toEqual({ kind: 'redirected', ip: 'fd00::9', port: 80, address: '[fd00::9]:80' });
    // IPv4 accepted on a dual-stack listener.
    expect(classifyArrival(socketAt('::ffff:127.0.0.1', 4140), context(dst('10.0.0.9', 80)))).toMatchObject({ kind: 'redirected', address: '10.0.0.9:80' });
  });

  it('takes a connection the rules did not redirect as made to the listener itself', () => {
    const notRedirected = () => {
      throw new OriginalDestinationError('NotRedirected', 'no redirect');
    };
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(notRedirected))).toEqual({ kind: 'direct' });
    // Tracked but not translated: the kernel answers with the listener's own address.
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(dst('127.0.0.1', 4140)))).toEqual({ kind: 'direct' });
    // Mesh TLS to the inbound port, redirected to that same port, on another address of the pod.
    expect(classifyArrival(socketAt('10.0.0.5', 4143), context(dst('fd00::5', 4143), [4140, 4191]))).toEqual({ kind: 'direct' });
  });

  it('refuses what would loop back into the proxy', () => {
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(dst('127.0.0.1', 8080)))).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/loopback/) });
    expect(classifyArrival(socketAt('::1', 4140), context(dst('::1', 8080)))).toMatchObject({ kind: 'refused' });
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(dst('10.0.0.5', 4143)))).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/listener of this proxy/) });
    expect(classifyArrival(socketAt('10.0.0.5', 4143), context(dst('10.0.0.5', 4191)))).toMatchObject({ kind: 'refused' });
    // Another pod's inbound port is no loop.
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(dst('10.0.0.9', 4143)))).toMatchObject({ kind: 'redirected' });
  });

  it('refuses a connection whose original destination cannot be read', () => {
    const broken = () => {
      throw new OriginalDestinationError('NoDescriptor', 'closed');
    };
    expect(classifyArrival(socketAt('127.0.0.1', 4140), context(broken))).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/no original destination/) });
  });
});

describe('addresses', () => {
  it('unmaps IPv4 and tells loopback apart', () => {
    expect(plainIp('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(plainIp('FD00:0::1')).toBe('fd00::1');
    expect(isLoopback('127.3.4.5')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});

describe('policyAuthority', () => {
  it("names a service's policy by the service, anything else by the address", () => {
    expect(policyAuthority(servicePolicy('web', 'shop', 80), '10.96.0.10:80', 'cluster.local')).toBe('web.shop.svc.cluster.local:80');
    expect(policyAuthority(forwardPolicy({ ip: '10.0.0.9', port: 8080 }), '10.0.0.9:8080', 'cluster.local')).toBe('10.0.0.9:8080');
  });
});

describe('connectionProtocol', () => {
  it('detects within the policy timeout, skips detection for opaque policies and opaque forward hints', () => {
    expect(connectionProtocol(forwardPolicy({ ip: '10.0.0.9', port: 8080 }, { detectMs: 250 }))).toEqual({ kind: 'detect', timeoutMs: 250 });
    expect(connectionProtocol(forwardPolicy({ ip: '10.0.0.9', port: 8080, identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local' }))).toEqual({ kind: 'detect', timeoutMs: 10_000 });
    expect(connectionProtocol(forwardPolicy({ ip: '10.0.0.9', port: 5432, identity: 'db.shop.serviceaccount.identity.meshbus.cluster.local', opaqueHint: true }))).toEqual({ kind: 'opaque' });
    const opaque: outbound.OutboundPolicy = { protocol: { kind: { $case: 'opaque', opaque: { routes: [] } } } };
    expect(connectionProtocol(opaque)).toEqual({ kind: 'opaque' });
    expect(connectionProtocol({})).toEqual({ kind: 'opaque' });
    expect(connectionProtocol({ protocol: { kind: { $case: 'http1', http1: { routes: [] } } } })).toEqual({ kind: 'detect', timeoutMs: 10_000 });
  });
});
