import { expect } from 'vitest';
import { fc } from '@fast-check/vitest';
import type { inbound, net } from '@meshbus/proxy-api';
import { fuzzProperty } from '@meshbus/property-testing';
import { authorizeConnection } from './authorize.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const address: fc.Arbitrary<net.IPAddress> = fc.oneof(
  fc.record({ ip: fc.record({ $case: fc.constant('ipv4' as const), ipv4: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer(), fc.double()) }) }),
  fc.record({ ip: fc.record({ $case: fc.constant('ipv6' as const), ipv6: fc.record({ first: u64, last: u64 }) }) }),
  fc.constant({}),
);
const ipNetwork: fc.Arbitrary<net.IPNetwork> = fc.record({ ip: fc.option(address, { nil: undefined }), prefixLen: fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer()) });
const network: fc.Arbitrary<inbound.Network> = fc.record({ net: fc.option(ipNetwork, { nil: undefined }), except: fc.array(ipNetwork, { maxLength: 3 }) });
const words = fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 });
const authn: fc.Arbitrary<inbound.Authn> = fc.oneof(
  fc.constant({ permit: { $case: 'unauthenticated' as const, unauthenticated: {} } }),
  fc.constant({ permit: { $case: 'meshTLS' as const, meshTLS: { clients: { $case: 'unauthenticated' as const, unauthenticated: {} } } } }),
  fc.record({ identities: words, suffixes: fc.array(words, { maxLength: 3 }) }).map(({ identities, suffixes }) => ({
    permit: { $case: 'meshTLS' as const, meshTLS: { clients: { $case: 'identities' as const, identities: { identities: identities.map((name) => ({ name })), suffixes: suffixes.map((parts) => ({ parts })) } } } },
  })),
  fc.constant({ permit: { $case: 'meshTLS' as const, meshTLS: {} } }),
  fc.constant({}),
);
const authz: fc.Arbitrary<inbound.Authz> = fc.record({
  networks: fc.array(network, { maxLength: 3 }),
  authentication: fc.option(authn, { nil: undefined }),
  labels: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
  metadata: fc.option(fc.oneof(fc.record({ kind: fc.record({ $case: fc.constant('default' as const), default: fc.constantFrom('audit', 'deny', 'x') }) }), fc.constant({})), { nil: undefined }),
});
const server: fc.Arbitrary<inbound.Server> = fc.record({ authorizations: fc.array(authz, { maxLength: 4 }) }).map(({ authorizations }) => ({ protocol: { kind: { $case: 'opaque', opaque: {} } }, serverIps: [], authorizations, labels: {} }));
const sourceIp = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `::ffff:${ip}`), fc.ipV6().map((ip) => `${ip}%eth0`), fc.string({ maxLength: 20 }));
const conn = fc.record({ tls: fc.boolean(), clientIdentity: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), sourceIp });

fuzzProperty('authorizeConnection never throws and always gives a reason', [server, conn], (s, c) => {
  const d = authorizeConnection(s, c);
  expect(typeof d.reason).toBe('string');
  // Only an authorization of the server can let a client in.
  if (d.allowed) expect(s.authorizations.length).toBeGreaterThan(0);
});
