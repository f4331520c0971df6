import { X509Certificate, generateKeyPairSync, randomBytes, sign, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { identityName } from '@meshbus/core';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { Oid, createCsr, decodePem, keyIdentifierOf, parseCertificate } from '@meshbus/x509';

/** Options of {@link runIdentityBench}. */
export interface IdentityBenchOptions {
  /** Time spent measuring each of the three workloads (after a short warm-up). */
  readonly durationMs: number;
  /** CSRs made before measuring, so key generation is not measured. @default 200 */
  readonly csrPoolSize?: number;
}

/** Throughput of one workload. */
export interface ThroughputFigure {
  readonly operations: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
}

/** Figures from one {@link runIdentityBench} run. */
export interface IdentityBenchResult {
  readonly durationMs: number;
  readonly csrPoolSize: number;
  /** `CertificateAuthority.issue`: CSR parse, checks, signature verification, leaf build and signature. */
  readonly meshbus: ThroughputFigure;
  /** The same work with @peculiar/x509: `Pkcs10CertificateRequest` parse + verify, `X509CertificateGenerator.create`. */
  readonly peculiar: ThroughputFigure;
  /** `crypto.sign('sha256', tbsSizedData, p256Key)` alone: the floor one signature sets. */
  readonly rawSign: ThroughputFigure;
  /** A small table with ratios, for printing. */
  format(): string;
}

/** Leaf certificates per second one core must sustain. */
export const IDENTITY_BENCH_TARGET_PER_SECOND = 5000;

const LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000;

function figure(operations: number, elapsedMs: number): ThroughputFigure {
  return { operations, elapsedMs, perSecond: (operations * 1000) / elapsedMs };
}

function measureSync(durationMs: number, operation: (index: number) => unknown): ThroughputFigure {
  const warmUpEnd = performance.now() + Math.min(200, durationMs / 10);
  for (let index = 0; performance.now() < warmUpEnd; index++) operation(index);
  const start = performance.now();
  let operations = 0;
  let elapsed = 0;
  do {
    operation(operations++);
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);
  return figure(operations, elapsed);
}

async function measureAsync(durationMs: number, operation: (index: number) => Promise<unknown>): Promise<ThroughputFigure> {
  const warmUpEnd = performance.now() + Math.min(200, durationMs / 10);
  for (let index = 0; performance.now() < warmUpEnd; index++) await operation(index);
  const start = performance.now();
  let operations = 0;
  let elapsed = 0;
  do {
    await operation(operations++);
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);
  return figure(operations, elapsed);
}

/**
 * tsyringe, which @peculiar/x509 loads, refuses to start without the `reflect-metadata` API, and
 * that package is not a dependency here. This gives it the few functions it calls.
 */
function provideReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<string, unknown>>();
  const keyOf = (metadataKey: unknown, property: unknown): string => `${String(property)}\u0000${String(metadataKey)}`;
  const getOwn = (metadataKey: unknown, target: object, property?: unknown): unknown => store.get(target)?.get(keyOf(metadataKey, property));
  const get = (metadataKey: unknown, target: object, property?: unknown): unknown => {
    for (let current: object | null = target; current !== null; current = Object.getPrototypeOf(current) as object | null) {
      const value = getOwn(metadataKey, current, property);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const define = (metadataKey: unknown, value: unknown, target: object, property?: unknown): void => {
    let entries = store.get(target);
    if (entries === undefined) store.set(target, (entries = new Map()));
    entries.set(keyOf(metadataKey, property), value);
  };
  Object.assign(reflect, {
    defineMetadata: define,
    getOwnMetadata: getOwn,
    getMetadata: get,
    hasMetadata: (metadataKey: unknown, target: object, property?: unknown) => get(metadataKey, target, property) !== undefined,
    metadata: (metadataKey: unknown, value: unknown) => (target: object, property?: unknown) => define(metadataKey, value, target, property),
  });
}

function newP256Key(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/**
 * Measures leaf certificate issuing on one core: meshbus's {@link CertificateAuthority}, the same
 * work done with @peculiar/x509, and a bare ECDSA P-256 signature, one after the other in this process.
 */
export async function runIdentityBench(options: IdentityBenchOptions): Promise<IdentityBenchResult> {
  const { durationMs } = options;
  const csrPoolSize = options.csrPoolSize ?? 200;
  const now = new Date();
  const validity = { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 365 * LEAF_LIFETIME_MS) };
  const anchor = createTrustAnchor({ commonName: 'root.bench.meshbus', validity });
  const issuer = createIssuer({ anchor, commonName: 'identity.bench.meshbus', validity });
  const authority = CertificateAuthority.fromPem({
    trustAnchorsPem: anchor.certificatePem,
    issuerCertificatePem: issuer.certificatePem,
    issuerKeyPem: issuer.privateKeyPem,
    now,
  });
  const identity = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
  const csrPool = Array.from({ length: csrPoolSize }, () =>
    createCsr({ privateKey: newP256Key(), subjectAltNames: [{ type: 'dns', value: identity }] }),
  );
  const csrAt = (index: number): Uint8Array => csrPool[index % csrPoolSize]!;

  // (a) meshbus
  const firstLeaf = await authority.issue({ identity, csrDer: csrAt(0), now });
  if (!new X509Certificate(firstLeaf.leafDer).verify(new X509Certificate(decodePem(issuer.certificatePem, 'CERTIFICATE')).publicKey)) {
    throw new Error('meshbus leaf does not verify against its issuer');
  }
  const meshbus = await measureAsync(durationMs, (index) => authority.issue({ identity, csrDer: csrAt(index), now }));

  // (b) @peculiar/x509, with what does not change between leaves prepared once, as for (a)
  provideReflectMetadata();
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const issuerDer = decodePem(issuer.certificatePem, 'CERTIFICATE');
  const issuerName = new x509.X509Certificate(issuerDer).subject;
  const issuerKeyId = Buffer.from(keyIdentifierOf(parseCertificate(issuerDer).subjectPublicKeyInfo)).toString('hex');
  const issuerSigningKey = await webcrypto.subtle.importKey(
    'pkcs8',
    decodePem(issuer.privateKeyPem, 'PRIVATE KEY'),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const basicConstraints = new x509.BasicConstraintsExtension(false, undefined, true);
  const keyUsage = new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true);
  const extendedKeyUsage = new x509.ExtendedKeyUsageExtension([Oid.serverAuth, Oid.clientAuth]);
  const authorityKeyIdentifier = new x509.AuthorityKeyIdentifierExtension(issuerKeyId);
  const peculiarIssue = async (index: number): Promise<Uint8Array> => {
    const csr = new x509.Pkcs10CertificateRequest(csrAt(index));
    if (!(await csr.verify())) throw new Error('CSR signature does not verify');
    const san = csr.getExtension(Oid.subjectAltName);
    if (!(san instanceof x509.SubjectAlternativeNameExtension) || san.names.items[0]?.value !== identity) {
      throw new Error('CSR does not name the identity');
    }
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex'),
      subject: '',
      issuer: issuerName,
      notBefore: new Date(now.getTime() - 20_000),
      notAfter: new Date(now.getTime() + LEAF_LIFETIME_MS + 20_000),
      signingAlgorithm: ecdsa,
      publicKey: csr.publicKey,
      signingKey: issuerSigningKey,
      extensions: [
        basicConstraints,
        keyUsage,
        extendedKeyUsage,
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        authorityKeyIdentifier,
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: identity }], true),
      ],
    });
    return new Uint8Array(leaf.rawData);
  };
  if (!new X509Certificate(await peculiarIssue(0)).verify(new X509Certificate(issuerDer).publicKey)) {
    throw new Error('@peculiar/x509 leaf does not verify against its issuer');
  }
  const peculiar = await measureAsync(durationMs, peculiarIssue);

  // (c) one bare signature over data the size of a leaf's TBSCertificate
  const signingKey = newP256Key();
  const tbsSized = new Uint8Array(firstLeaf.leafDer.length - 80).fill(0x5a);
  const rawSign = measureSync(durationMs, () => sign('sha256', tbsSized, signingKey));

  return {
    durationMs,
    csrPoolSize,
    meshbus,
    peculiar,
    rawSign,
    format: () => formatIdentityBench({ durationMs, csrPoolSize, meshbus, peculiar, rawSign }),
  };
}

function formatIdentityBench(result: Omit<IdentityBenchResult, 'format'>): string {
  const rows: [string, ThroughputFigure][] = [
    ['meshbus CertificateAuthority.issue', result.meshbus],
    ['@peculiar/x509 parse+verify+create', result.peculiar],
    ['node:crypto sign (ECDSA P-256)', result.rawSign],
  ];
  const lines = [
    `identity: leaf certificates on one core (${result.durationMs} ms per workload, ${result.csrPoolSize} pre-made CSRs)`,
    `${'workload'.padEnd(38)}${'per second'.padStart(12)}${'vs raw sign'.padStart(13)}`,
    ...rows.map(
      ([name, value]) =>
        `${name.padEnd(38)}${formatRate(value.perSecond).padStart(12)}${`${(value.perSecond / result.rawSign.perSecond).toFixed(3)}x`.padStart(13)}`,
    ),
    `meshbus is ${(result.meshbus.perSecond / result.peculiar.perSecond).toFixed(1)}x @peculiar/x509; ` +
      `target ${formatRate(IDENTITY_BENCH_TARGET_PER_SECOND)}/s ${result.meshbus.perSecond >= IDENTITY_BENCH_TARGET_PER_SECOND ? 'met' : 'NOT met'}`,
  ];
  return lines.join('\n');
}
