import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import {
  CertificateAuthority,
  TrustMaterialExistsError,
  TrustMaterialFile,
  createIssuer,
  createTrustAnchor,
  createWorkloadToken,
  writeTrustMaterial,
  type TrustMaterial,
} from '@meshbus/trust';
import { errorMessage } from '@meshbus/runtime';
import { decodePemAll, encodePem } from '@meshbus/x509';
import { parsedBy } from '../commander-parsers.js';
import type { TextSink } from '../context.js';
import { UsageError } from '../errors.js';
import { formatDuration, parseDnsLabel, parseDomain, parseDurationFlag } from '../flags.js';
import { describeCertificates } from './identity-inspect.js';

const HOUR = 3_600_000;
const YEAR = 8_760 * HOUR;

/** Defaults of the identity commands' flags. */
export const identityCommandDefaults = {
  dir: '.meshbus/identity',
  trustDomain: 'cluster.local',
  anchorValidityMs: 87_600 * HOUR,
  issuerValidityMs: 8_760 * HOUR,
  tokenExpiresMs: 24 * HOUR,
  audience: 'identity.meshbus.io',
  tokenKey: '.meshbus/identity/token.key',
} as const;

/** Files of the local-mode workload token signing key pair, next to the trust material. */
export const TokenKeyFile = {
  privateKey: 'token.key',
  publicKey: 'token.pub',
} as const;

/** Certificates are back-dated this much, so that a clock slightly behind still accepts them. */
const BACKDATE_MS = 60_000;
/** A subject commonName holds at most 64 characters (RFC 5280 upper bound). */
const MAX_COMMON_NAME = 64;

/** What `meshbus identity init` does, as plain data. */
export interface InitIdentityOptions {
  dir: string;
  trustDomain: string;
  anchorValidityMs: number;
  issuerValidityMs: number;
  force: boolean;
  /** A user-brought anchor: files holding its certificate and private key (PEM). */
  anchorCert?: string;
  anchorKey?: string;
  now: Date;
}

/** What `meshbus identity init` created. */
export interface InitIdentityResult {
  /** Trust material files written. */
  written: string[];
  anchorSubject: string;
  anchorNotAfter: Date;
  anchorBroughtByUser: boolean;
  issuerSubject: string;
  issuerNotAfter: Date;
  /** The issuer was cut short to end with the anchor. */
  issuerCapped: boolean;
  tokenKey: 'created' | 'kept';
}

function commonName(prefix: string, trustDomain: string): string {
  const name = `${prefix}.meshbus.${trustDomain}`;
  if (name.length > MAX_COMMON_NAME) {
    throw new UsageError(`trust domain ${trustDomain} is too long: the certificate name ${name} exceeds ${MAX_COMMON_NAME} characters`);
  }
  return name;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag} ${path} cannot be read: ${errorMessage(error)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : Promise.reject(error)),
  );
}

/** Loads and checks a user-brought anchor: a CA certificate, valid now, with the key that belongs to it. */
async function loadAnchor(certPath: string, keyPath: string, now: Date): Promise<TrustMaterial> {
  const certText = await readText(certPath, '--anchor-cert');
  const keyPem = await readText(keyPath, '--anchor-key');
  let certificate: X509Certificate;
  let der: Uint8Array;
  try {
    der = decodePemAll(certText, 'CERTIFICATE')[0]!;
    certificate = new X509Certificate(der);
  } catch (error) {
    throw new UsageError(`--anchor-cert ${certPath} is not a PEM certificate: ${errorMessage(error)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new UsageError(`--anchor-key ${keyPath} is not an unencrypted PEM private key: ${errorMessage(error)}`);
  }
  if (!certificate.checkPrivateKey(key)) throw new UsageError(`--anchor-key ${keyPath} does not belong to the certificate in ${certPath}`);
  if (!certificate.ca) throw new UsageError(`--anchor-cert ${certPath} is not a CA certificate (it needs basicConstraints CA:TRUE)`);
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  if (now < notBefore || now >= notAfter) {
    throw new UsageError(`--anchor-cert ${certPath} is valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, not now`);
  }
  return { certificatePem: encodePem('CERTIFICATE', der), privateKeyPem: keyPem };
}

/** Creates the token signing key pair in `dir` unless `token.key` exists; writes a missing `token.pub` from it. */
async function ensureTokenKey(dir: string): Promise<'created' | 'kept'> {
  const keyPath = join(dir, TokenKeyFile.privateKey);
  const pubPath = join(dir, TokenKeyFile.publicKey);
  let privateKey: KeyObject;
  let outcome: 'created' | 'kept';
  if (await exists(keyPath)) {
    try {
      privateKey = createPrivateKey(await readFile(keyPath, 'utf8'));
    } catch (error) {
      throw new UsageError(`${keyPath} exists but is not a PEM private key (${errorMessage(error)}); move it away to create a new one`);
    }
    outcome = 'kept';
  } else {
    privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeExclusive(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    outcome = 'created';
  }
  if (!(await exists(pubPath))) {
    await writeExclusive(pubPath, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(), 0o644);
  }
  return outcome;
}

async function writeExclusive(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode, flag: 'wx' });
  // The mode given to writeFile is reduced by the umask; set it exactly before the file appears.
  await chmod(temporary, mode);
  await rename(temporary, path);
}

/**
 * Creates the mesh trust material in `dir`: a trust anchor (or the user's), an issuer signed by it,
 * and the local-mode token signing key pair if there is none. The result is checked the way the
 * identity service will check it before anything is written. Throws {@link UsageError}.
 */
export async function initIdentity(options: InitIdentityOptions): Promise<InitIdentityResult> {
  const { now, trustDomain } = options;
  if ((options.anchorCert === undefined) !== (options.anchorKey === undefined)) {
    throw new UsageError('--anchor-cert and --anchor-key go together: give both to sign the issuer with your own anchor, or neither');
  }
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const broughtByUser = options.anchorCert !== undefined && options.anchorKey !== undefined;
  const anchor = broughtByUser
    ? await loadAnchor(options.anchorCert!, options.anchorKey!, now)
    : createTrustAnchor({
        commonName: commonName('root', trustDomain),
        validity: { notBefore, notAfter: new Date(now.getTime() + options.anchorValidityMs) },
      });
  const requestedIssuerEnd = new Date(now.getTime() + options.issuerValidityMs);
  let issuer: TrustMaterial;
  try {
    issuer = createIssuer({ anchor, commonName: commonName('identity', trustDomain), validity: { notBefore, notAfter: requestedIssuerEnd } });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`an issuer cannot be signed with this anchor: ${errorMessage(error)}`);
  }
  try {
    CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem, now });
  } catch (error) {
    throw new UsageError(`the identity service would refuse this trust material: ${errorMessage(error)}`);
  }

  const dir = resolve(options.dir);
  const staleAnchorKey = join(dir, TrustMaterialFile.anchorKey);
  if (broughtByUser && (await exists(staleAnchorKey))) {
    throw new UsageError(
      `${staleAnchorKey} belongs to an earlier anchor and would not match the new ca.crt; move it somewhere safe (you may still need it) and run again`,
    );
  }
  let written: string[];
  try {
    written = await writeTrustMaterial(dir, {
      anchor: broughtByUser ? { certificatePem: anchor.certificatePem } : anchor,
      issuer,
      overwrite: options.force,
    });
  } catch (error) {
    if (error instanceof TrustMaterialExistsError) throw new UsageError(`${error.message}; pass --force to replace them`);
    throw error;
  }
  const tokenKey = await ensureTokenKey(dir);

  const anchorCertificate = new X509Certificate(anchor.certificatePem);
  const issuerCertificate = new X509Certificate(issuer.certificatePem);
  const issuerNotAfter = new Date(issuerCertificate.validTo);
  return {
    written,
    anchorSubject: anchorCertificate.subject.replaceAll('\n', ', '),
    anchorNotAfter: new Date(anchorCertificate.validTo),
    anchorBroughtByUser: broughtByUser,
    issuerSubject: issuerCertificate.subject.replaceAll('\n', ', '),
    issuerNotAfter,
    issuerCapped: issuerNotAfter.getTime() < Math.floor(requestedIssuerEnd.getTime() / 1000) * 1000,
    tokenKey,
  };
}

/** What `meshbus identity token` signs. */
export interface WorkloadTokenRequest {
  namespace: string;
  serviceAccount: string;
  expiresMs: number;
  audience: string;
  /** PEM private key file (ES256 P-256 or EdDSA Ed25519). */
  keyFile: string;
  now: Date;
}

/** Signs a local-mode workload token with the key in `keyFile`. Throws {@link UsageError}. */
export async function signWorkloadToken(request: WorkloadTokenRequest): Promise<string> {
  let keyPem: string;
  try {
    keyPem = await readFile(request.keyFile, 'utf8');
  } catch (error) {
    throw new UsageError(`the token signing key ${request.keyFile} cannot be read (${errorMessage(error)}); run \`meshbus identity init\` or pass --key`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new UsageError(`${request.keyFile} is not an unencrypted PEM private key: ${errorMessage(error)}`);
  }
  try {
    return createWorkloadToken(
      {
        namespace: request.namespace,
        serviceAccount: request.serviceAccount,
        audience: request.audience,
        expiresAt: new Date(request.now.getTime() + request.expiresMs),
      },
      key,
    );
  } catch (error) {
    throw new UsageError(`${request.keyFile}: ${errorMessage(error)}`);
  }
}

function parseAudience(text: string): string {
  if (!/^[\x21-\x7e]{1,253}$/.test(text)) throw new UsageError(`audience ${JSON.stringify(text)} must be 1 to 253 printable characters without spaces`);
  return text;
}

function parsePath(text: string): string {
  if (text.trim() === '') throw new UsageError('path is empty');
  return text;
}

function durationOption(flags: string, description: string, what: string, defaultMs: number, bounds: { minMs: number; maxMs: number }): Option {
  return new Option(flags, description)
    .default(defaultMs, formatDuration(defaultMs))
    .argParser(parsedBy((text) => parseDurationFlag(text, what, bounds)));
}

/** Runs an action; a failure is reported the way commander reports bad flags, with exit code 1. */
async function reported(command: Command, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    const code = error instanceof UsageError ? 'meshbus.identity.usage' : 'meshbus.identity.failed';
    command.error(`error: ${errorMessage(error)}`, { exitCode: 1, code });
  }
}

/**
 * Adds `meshbus identity init | token | inspect` to `program`. Output goes to `output.stdout`
 * when given, else to the command's commander output (`configureOutput().writeOut`).
 */
export function registerIdentityCommands(program: Command, output: { stdout?: TextSink } = {}): Command {
  const write = (command: Command, text: string) => {
    if (output.stdout) output.stdout.write(text);
    else command.configureOutput().writeOut?.(text);
  };

  const identity = program.command('identity').description('mesh identity: trust material, workload tokens, certificates');

  identity
    .command('init')
    .description('create a trust anchor, an issuer signed by it, and the local-mode token signing key')
    .addOption(new Option('--dir <path>', 'directory to write ca.crt, ca.key, issuer.crt, issuer.key, token.key, token.pub').default(identityCommandDefaults.dir).argParser(parsedBy(parsePath)))
    .addOption(
      new Option('--trust-domain <domain>', 'trust domain of the mesh; certificate names end with it')
        .default(identityCommandDefaults.trustDomain)
        .argParser(parsedBy((text) => parseDomain(text, 'trust domain'))),
    )
    .addOption(durationOption('--anchor-validity <duration>', 'lifetime of a new trust anchor', 'anchor validity', identityCommandDefaults.anchorValidityMs, { minMs: HOUR, maxMs: 100 * YEAR }))
    .addOption(durationOption('--issuer-validity <duration>', 'lifetime of the issuer (never beyond the anchor)', 'issuer validity', identityCommandDefaults.issuerValidityMs, { minMs: HOUR, maxMs: 100 * YEAR }))
    .option('--force', 'replace existing trust material', false)
    .addOption(new Option('--anchor-cert <file>', 'sign the issuer with your own anchor: its certificate (PEM)').argParser(parsedBy(parsePath)))
    .addOption(new Option('--anchor-key <file>', 'the private key of --anchor-cert (PEM, unencrypted); it is not copied').argParser(parsedBy(parsePath)))
    .action(async (flags: { dir: string; trustDomain: string; anchorValidity: number; issuerValidity: number; force: boolean; anchorCert?: string; anchorKey?: string }, command: Command) => {
      await reported(command, async () => {
        const result = await initIdentity({
          dir: flags.dir,
          trustDomain: flags.trustDomain,
          anchorValidityMs: flags.anchorValidity,
          issuerValidityMs: flags.issuerValidity,
          force: flags.force,
          ...(flags.anchorCert === undefined ? {} : { anchorCert: flags.anchorCert }),
          ...(flags.anchorKey === undefined ? {} : { anchorKey: flags.anchorKey }),
          now: new Date(),
        });
        const dir = resolve(flags.dir);
        const lines = [
          ...result.written.map((path) => `wrote ${path}`),
          `trust anchor: ${result.anchorSubject}${result.anchorBroughtByUser ? ' (yours; its key was not copied)' : ''}, valid until ${result.anchorNotAfter.toISOString()}`,
          `issuer:       ${result.issuerSubject}, valid until ${result.issuerNotAfter.toISOString()}${result.issuerCapped ? ' (cut to end with the anchor)' : ''}`,
          result.tokenKey === 'created'
            ? `token signing key: wrote ${join(dir, TokenKeyFile.privateKey)} and ${join(dir, TokenKeyFile.publicKey)}`
            : `token signing key: kept ${join(dir, TokenKeyFile.privateKey)}`,
        ];
        write(command, `${lines.join('\n')}\n`);
      });
    });

  identity
    .command('token')
    .description('print a local-mode workload token for a service account')
    .requiredOption('--namespace <name>', 'namespace of the workload', parsedBy((text) => parseDnsLabel(text, 'namespace')))
    .requiredOption('--service-account <name>', 'service account of the workload', parsedBy((text) => parseDnsLabel(text, 'service account')))
    .addOption(durationOption('--expires <duration>', 'how long the token is valid', 'token lifetime', identityCommandDefaults.tokenExpiresMs, { minMs: 1_000, maxMs: YEAR }))
    .addOption(new Option('--audience <audience>', 'audience the identity service accepts').default(identityCommandDefaults.audience).argParser(parsedBy(parseAudience)))
    .addOption(new Option('--key <file>', 'token signing key (PEM)').default(identityCommandDefaults.tokenKey).argParser(parsedBy(parsePath)))
    .action(async (flags: { namespace: string; serviceAccount: string; expires: number; audience: string; key: string }, command: Command) => {
      await reported(command, async () => {
        const token = await signWorkloadToken({
          namespace: flags.namespace,
          serviceAccount: flags.serviceAccount,
          expiresMs: flags.expires,
          audience: flags.audience,
          keyFile: flags.key,
          now: new Date(),
        });
        write(command, `${token}\n`);
      });
    });

  identity
    .command('inspect')
    .description('show subject, names, issuer and validity of the certificates in a PEM or DER file')
    .argument('<cert.pem>', 'certificate file')
    .action(async (file: string, _flags: unknown, command: Command) => {
      await reported(command, async () => {
        let content: Buffer;
        try {
          content = await readFile(file);
        } catch (error) {
          throw new UsageError(`${file} cannot be read: ${errorMessage(error)}`);
        }
        try {
          write(command, describeCertificates(content, Date.now()));
        } catch (error) {
          throw new UsageError(`${file}: ${errorMessage(error)}`);
        }
      });
    });

  return identity;
}
