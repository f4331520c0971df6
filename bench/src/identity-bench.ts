import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { identityName } from '@meshbus/core';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { Oid, createCsr, decodePem, keyIdentifierOf, parseCertificate, parseCsr } from '@meshbus/x509';

/** Options of {@link runIdentityBench}. */
export interface IdentityBenchOptions {
  /** Time spent measuring each workload, split into rounds that take turns (after a short warm-up). */
  readonly durationMs: number;
  /** Rounds each workload's time is split into; the best round counts. @default 8 */
  readonly rounds?: number;
  /** CSRs made before measuring, so key generation is not measured. @default 200 */
  readonly csrPoolSize?: number;
  /** Also measure @peculiar/x509 doing the same work (slow; a reference, not a bound). @default true */
  readonly peculiar?: boolean;
}

/** Throughput of one workload, per second of this process's CPU time in its best round. */
export interface ThroughputFigure {
  readonly operations: number;
  /** CPU time (user + system) of the best round. */
  readonly cpuMs: number;
  readonly perSecond: number;
  /** Operations per CPU second of every round, in order. */
  readonly rounds: readonly number[];
}

/** Figures from one {@link runIdentityBench} run. */
export interface IdentityBenchResult {
  readonly durationMs: number;
  readonly rounds: number;
  readonly csrPoolSize: number;
  /** `CertificateAuthority.issue`: CSR parse, checks, signature verification, leaf build and signature. */
  readonly meshbus: ThroughputFigure;
  /** The same work with @peculiar/x509: `Pkcs10CertificateRequest` parse + verify, `X509CertificateGenerator.create`. */
  readonly peculiar: ThroughputFigure | undefined;
  /** `crypto.sign('sha256', tbsSizedData, p256Key)` alone: one leaf signature. */
  readonly rawSign: ThroughputFigure;
  /** `crypto.verify` of a CSR's signature with a KeyObject made once and reused. */
  readonly rawVerify: ThroughputFigure;
  /**
   * `crypto.verify` of a CSR's signature by a key seen for the first time, made from the CSR's
   * public point: what checking one proxy's CSR costs at least, since each brings its own key.
   */
  readonly rawVerifyNewKey: ThroughputFigure;
  /** 1 / (1/rawSign + 1/rawVerify): one verification and one signature, nothing else. */
  readonly limit: number;
  /** 1 / (1/rawSign + 1/rawVerifyNewKey): the same with the CSR's key made per request. */
  readonly limitNewKey: number;
  /** A small table with ratios, for printing. */
  format(): string;
}

/** Leaf certificates per second one core must sustain. */
export const IDENTITY_BENCH_TARGET_PER_SECOND = 5000;
/** Share of the limit (one verification plus one signature) meshbus must reach. */
export const IDENTITY_BENCH_TARGET_RATIO = 0.8;

const LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000;

type Operation = (index: number) => unknown;

interface Workload {
  readonly operation: Operation;
  readonly rounds: { operations: number; cpuMs: number }[];
  next: number;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/**
 * Runs the workloads in turns, `rounds` times each for `roundMs`, and keeps each one's best round.
 * Rates are per CPU second of this process, and the rounds of all workloads are interleaved, so
 * that other processes competing for the cores move the figures and their ratios as little as can be.
 */
async function measureInTurns(workloads: readonly Operation[], rounds: number, roundMs: number): Promise<ThroughputFigure[]> {
  const states: Workload[] = workloads.map((operation) => ({ operation, rounds: [], next: 0 }));
  for (const state of states) {
    const warmUpEnd = performance.now() + Math.min(200, roundMs);
    while (performance.now() < warmUpEnd) await state.operation(state.next++);
  }
  for (let round = 0; round < rounds; round++) {
    for (const state of states) {
      const cpuStart = process.cpuUsage();
      const end = performance.now() + roundMs;
      let operations = 0;
      do {
        await state.operation(state.next++);
        operations++;
      } while (performance.now() < end);
      state.rounds.push({ operations, cpuMs: cpuMsSince(cpuStart) });
    }
  }
  return states.map((state) => {
    const perSecond = state.rounds.map((r) => (r.operations * 1000) / r.cpuMs);
    const best = state.rounds[perSecond.indexOf(Math.max(...perSecond))]!;
    return { operations: best.operations, cpuMs: best.cpuMs, perSecond: Math.max(...perSecond), rounds: perSecond };
  });
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
 * Measures leaf certificate issuing on one core: meshbus's {@link CertificateAuthority}, the two
 * operations no CA can skip (verifying the CSR's signature, signing the leaf), and optionally the
 * same work done with @peculiar/x509.
 */
export async function runIdentityBench(options: IdentityBenchOptions): Promise<IdentityBenchResult> {
  const { durationMs } = options;
  const rounds = options.rounds ?? 8;
  const csrPoolSize = options.csrPoolSize ?? 200;
  const roundMs = durationMs / rounds;
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

  const firstLeaf = await authority.issue({ identity, csrDer: csrAt(0), now });
  if (!new X509Certificate(firstLeaf.leafDer).verify(new X509Certificate(decodePem(issuer.certificatePem, 'CERTIFICATE')).publicKey)) {
    throw new Error('meshbus leaf does not verify against its issuer');
  }

  // The bare operations: a signature over data the size of a leaf's TBSCertificate, and the CSRs' own signatures.
  const signingKey = newP256Key();
  const tbsSized = new Uint8Array(firstLeaf.leafDer.length - 80).fill(0x5a);
  const requests = csrPool.map((der) => parseCsr(der));
  const requestKeys = requests.map((request) => createPublicKey({ key: Buffer.from(request.subjectPublicKeyInfo.der), format: 'der', type: 'spki' }));
  const requestJwks = requests.map((request) => {
    const point = Buffer.from(request.subjectPublicKeyInfo.publicKey);
    return { kty: 'EC', crv: 'P-256', x: point.toString('base64url', 1, 33), y: point.toString('base64url', 33, 65) };
  });
  const checked = (valid: boolean): void => {
    if (!valid) throw new Error('a CSR signature does not verify');
  };
  const rawSign: Operation = () => sign('sha256', tbsSized, signingKey);
  const rawVerify: Operation = (index) => {
    const request = requests[index % csrPoolSize]!;
    checked(verify('sha256', request.requestInfoDer, requestKeys[index % csrPoolSize]!, request.signature));
  };
  const rawVerifyNewKey: Operation = (index) => {
    const request = requests[index % csrPoolSize]!;
    checked(verify('sha256', request.requestInfoDer, createPublicKey({ key: requestJwks[index % csrPoolSize]!, format: 'jwk' }), request.signature));
  };
  const meshbusIssue: Operation = (index) => authority.issue({ identity, csrDer: csrAt(index), now });

  const [rawSignFigure, rawVerifyFigure, rawVerifyNewKeyFigure, meshbus] = (await measureInTurns([rawSign, rawVerify, rawVerifyNewKey, meshbusIssue], rounds, roundMs)) as [
    ThroughputFigure,
    ThroughputFigure,
    ThroughputFigure,
    ThroughputFigure,
  ];
  const peculiar = options.peculiar === false ? undefined : await measurePeculiar({ issuer, identity, now, csrAt, rounds, roundMs });

  const figures = {
    durationMs,
    rounds,
    csrPoolSize,
    meshbus,
    peculiar,
    rawSign: rawSignFigure,
    rawVerify: rawVerifyFigure,
    rawVerifyNewKey: rawVerifyNewKeyFigure,
    limit: 1 / (1 / rawSignFigure.perSecond + 1 / rawVerifyFigure.perSecond),
    limitNewKey: 1 / (1 / rawSignFigure.perSecond + 1 / rawVerifyNewKeyFigure.perSecond),
  };
  return { ...figures, format: () => formatIdentityBench(figures) };
}

/** The same work with @peculiar/x509, with what does not change between leaves prepared once, as for meshbus. */
async function measurePeculiar(context: {
  issuer: { certificatePem: string; privateKeyPem: string };
  identity: string;
  now: Date;
  csrAt: (index: number) => Uint8Array;
  rounds: number;
  roundMs: number;
}): Promise<ThroughputFigure> {
  const { issuer, identity, now, csrAt } = context;
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
  // Fewer, longer rounds: one leaf takes milliseconds.
  const [figure] = await measureInTurns([peculiarIssue], Math.max(1, Math.floor(context.rounds / 4)), context.roundMs * 2);
  return figure!;
}

function formatIdentityBench(result: Omit<IdentityBenchResult, 'format'>): string {
  const rows: [string, number][] = [
    ['node:crypto sign (ECDSA P-256)', result.rawSign.perSecond],
    ['node:crypto verify, reused key', result.rawVerify.perSecond],
    ['node:crypto verify, new key per CSR', result.rawVerifyNewKey.perSecond],
    ['limit: 1 verify + 1 sign', result.limit],
    ['limit with a new key per CSR', result.limitNewKey],
    ['meshbus CertificateAuthority.issue', result.meshbus.perSecond],
    ...(result.peculiar ? ([['@peculiar/x509 parse+verify+create', result.peculiar.perSecond]] as [string, number][]) : []),
  ];
  const ratio = result.meshbus.perSecond / result.limit;
  const ratioNewKey = result.meshbus.perSecond / result.limitNewKey;
  const lines = [
    `identity: leaf certificates per CPU second, one core (${result.durationMs} ms per workload in ${result.rounds} interleaved rounds, best round; ${result.csrPoolSize} pre-made CSRs)`,
    `${'workload'.padEnd(38)}${'per second'.padStart(12)}${'meshbus / it'.padStart(14)}`,
    ...rows.map(([name, value]) => `${name.padEnd(38)}${formatRate(value).padStart(12)}${`${(result.meshbus.perSecond / value).toFixed(2)}`.padStart(14)}`),
    `meshbus reaches ${ratio.toFixed(2)} of the limit (${ratioNewKey.toFixed(2)} of the limit with a new key per CSR); ` +
      `target ${IDENTITY_BENCH_TARGET_RATIO} ${ratio >= IDENTITY_BENCH_TARGET_RATIO ? 'met' : 'NOT met'}` +
      `${ratioNewKey >= IDENTITY_BENCH_TARGET_RATIO && ratio < IDENTITY_BENCH_TARGET_RATIO ? ' (met with a new key per CSR)' : ''}; ` +
      `${formatRate(result.meshbus.perSecond)}/s vs ${formatRate(IDENTITY_BENCH_TARGET_PER_SECOND)}/s ${result.meshbus.perSecond >= IDENTITY_BENCH_TARGET_PER_SECOND ? 'met' : 'NOT met'}`,
  ];
  return lines.join('\n');
}
