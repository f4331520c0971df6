import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { MeshbusError } from '@meshbus/runtime';
import { fuzzProperty } from '@meshbus/property-testing';
import { canonicalIp } from '@meshbus/core';
import { DestinationPathError, parseDestinationPath } from './index.js';
import { parseDestinationTarget } from './destination-path.js';

const clusterDomain = fc.constantFrom('cluster.local', 'example.org', 'c');
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const port = fc.integer({ min: 1, max: 65535 });

// Pieces of paths, with characters known to trip up text handling: upper case, a Kelvin sign
// (lower-cases to ASCII k), dotless and dotted i, full-width letters, NUL and spaces.
const piece = fc.oneof(
  label,
  fc.constantFrom('svc', 'cluster', 'local', 'example', 'org', 'c', '', 'WEB', '\u212Aube', 'ı', 'İ', 'ｗeb', '\u0000', ' ', '-', '*', '[::1]'),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const trickyChar = fc.constantFrom('\u212A', 'K', 'ı', 'İ', 'ｗ', '\u0000', ' ', '_', '.', ':', 'é');
/** `text` with one character replaced by a tricky one. */
const mangled = (text: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(text, fc.nat(), trickyChar).map(([value, at, char]) => value.slice(0, at % value.length) + char + value.slice((at % value.length) + 1));
/** Mostly the part a valid path has in this place; else that part mangled, or another piece. */
const slot = (valid: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: mangled(valid), weight: 1 }, { arbitrary: piece, weight: 1 });
const portSuffix = fc.option(fc.oneof(port.map(String), fc.string({ maxLength: 6 }), fc.constantFrom('0', '65536', '080', '+80', ' 80', '8\u0660')), { nil: undefined });
/** Paths close to `<svc>.<ns>.svc.<domain>:<port>` for `domain`, with the domain they are read in. */
const nearPath = clusterDomain.chain((domain) =>
  fc.tuple(
    fc.tuple(slot(label), slot(label), slot(fc.constant('svc')), slot(fc.constant(domain)), fc.oneof({ arbitrary: fc.constant([]), weight: 4 }, { arbitrary: fc.array(piece, { maxLength: 2 }), weight: 1 }), portSuffix, fc.boolean()).map(
      ([service, namespace, svc, domainText, extra, portText, trailingDot]) =>
        `${[service, namespace, svc, domainText, ...extra].join('.')}${trailingDot ? '.' : ''}${portText === undefined ? '' : `:${portText}`}`,
    ),
    fc.constant(domain),
  ),
);

describe('parseDestinationPath', () => {
  fuzzProperty('gives a service of the cluster written in ASCII, or DestinationPathError', [fc.oneof(fc.tuple(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 })), clusterDomain), nearPath)], ([path, domain]) => {
    let target;
    try {
      target = parseDestinationPath(path, domain);
    } catch (error) {
      expect(error).toBeInstanceOf(DestinationPathError);
      expect(error).toBeInstanceOf(MeshbusError);
      expect((error as DestinationPathError).code).toBe('InvalidDestinationPath');
      expect((error as Error).message).toMatch(/\S/);
      return;
    }
    expect(target.fqdn).toBe(`${target.service}.${target.namespace}.svc.${domain}`);
    expect(target.port).toBeGreaterThanOrEqual(1);
    expect(target.port).toBeLessThanOrEqual(65535);
    // The path names that service: the same ASCII text up to letter case and a final dot.
    const host = path.replace(/:\d+$/, '').replace(/\.$/, '');
    expect(host).toMatch(/^[\x21-\x7e]+$/);
    expect(host.toLowerCase()).toBe(target.fqdn);
  }, { runs: 1000 });

  fuzzProperty('reads back <svc>.<ns>.svc.<domain>[:<port>] in any letter case, with or without a final dot', [label, label, clusterDomain, fc.option(port, { nil: undefined }), fc.boolean(), fc.array(fc.boolean(), { maxLength: 80 })], (service, namespace, domain, portNumber, trailingDot, upper) => {
    const fqdn = `${service}.${namespace}.svc.${domain}`;
    const written = [...fqdn].map((char, i) => (upper[i] === true ? char.toUpperCase() : char)).join('');
    const path = `${written}${trailingDot ? '.' : ''}${portNumber === undefined ? '' : `:${portNumber}`}`;
    expect(parseDestinationPath(path, domain)).toEqual({ service, namespace, port: portNumber ?? 80, fqdn });
  }, { runs: 500 });
});

describe('parseDestinationTarget', () => {
  const addressLike = fc.oneof(
    fc.ipV4().map((ip) => ip),
    fc.ipV6().map((ip) => `[${ip}]`),
    fc.ipV6(),
    fc.constantFrom('[', ']', '[]', '[::1', '::1]', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '[1.2.3.4]', '[fe80::1%eth0]'),
  );
  const pathish = fc.oneof(
    fc.tuple(addressLike, portSuffix).map(([a, p]) => (p === undefined ? a : `${a}:${p}`)),
    fc.string({ maxLength: 40 }),
    nearPath.map(([path]) => path),
  );

  fuzzProperty('gives a service, an address in canonical form, or DestinationPathError', [pathish], (path) => {
    let target;
    try {
      target = parseDestinationTarget(path, 'cluster.local');
    } catch (error) {
      expect(error).toBeInstanceOf(DestinationPathError);
      expect((error as Error).message).toMatch(/\S/);
      return;
    }
    if (target.kind === 'service') {
      expect(target.service.fqdn).toBe(`${target.service.service}.${target.service.namespace}.svc.cluster.local`);
      return;
    }
    const { ip, port, key } = target.address;
    expect(canonicalIp(ip)).toBe(ip);
    expect(port).toBeGreaterThanOrEqual(1);
    expect(port).toBeLessThanOrEqual(65535);
    expect(key).toBe(ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  }, { runs: 1000 });

  fuzzProperty('reads back any IPv4 or IPv6 address with any port', [fc.oneof(fc.ipV4(), fc.ipV6()), port], (ip, portNumber) => {
    const written = ip.includes(':') ? `[${ip}]:${portNumber}` : `${ip}:${portNumber}`;
    const canonical = canonicalIp(ip);
    expect(parseDestinationTarget(written, 'cluster.local')).toEqual({ kind: 'address', address: { ip: canonical, port: portNumber, key: canonical.includes(':') ? `[${canonical}]:${portNumber}` : `${canonical}:${portNumber}` } });
  }, { runs: 500 });
});
