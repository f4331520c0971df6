import { describe, expect, it } from 'vitest';
import { computePolicies } from './policy-index.js';
import * as b from './testdata/builders.js';

// The manifest decoders refuse unknown gRPC status names; typed inputs
// (another source of resources) can still carry one, and the index must not
// drop it silently.
describe('gRPC retry codes', () => {
  const inputs = (codes: string[], annotation: string[] = []) => ({
    resources: b.resources({
      services: [b.service('shop', 'cart')],
      grpcRoutes: [
        b.grpcRoute(
          'shop',
          'cart-grpc',
          [b.parent('Service', 'cart')],
          [{ matches: [{ headers: [] }], filters: [], backendRefs: [], retry: { attempts: 2, codes: [], grpcCodes: codes } }],
          annotation.length > 0 ? { annotationRetry: { attempts: 1, codes: [], grpcCodes: annotation } } : {},
        ),
      ],
    }),
    registered: [],
  });

  it('carries known names, sorted', () => {
    const result = computePolicies(b.settings, inputs(['unavailable', 'cancelled']));
    expect(result.rejected).toEqual([]);
    expect(result.outbound.get('shop/cart/80')?.routes.grpcRoutes[0]?.rules[0]?.retry?.codes).toEqual(['cancelled', 'unavailable']);
  });

  it.each([
    [['unavailable', 'UNAVAILABLE'], [], 'rule 1: retry.codes names "UNAVAILABLE"'],
    [['unavailable'], ['aborted'], 'annotation retry.linkerd.io/grpc names "aborted"'],
  ])('rejects the route naming an unknown one (%j, %j)', (codes, annotation, message) => {
    const result = computePolicies(b.settings, inputs(codes, annotation));
    const status = result.statuses.get('shop/GRPCRoute/cart-grpc');
    expect(status?.accepted).toBe(false);
    expect(status?.conditions[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'InvalidResource' });
    expect(status?.conditions[0]?.message).toContain(message);
    expect(result.rejected).toEqual([expect.objectContaining({ kind: 'GRPCRoute', name: 'cart-grpc', code: 'InvalidResource', reason: expect.stringContaining(message) as string })]);
    // The port falls back to its default route.
    expect(result.outbound.get('shop/cart/80')?.routes.httpRoutes[0]?.metadata).toEqual({ default: 'default' });
  });
});
