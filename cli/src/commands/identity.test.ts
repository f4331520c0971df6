import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, verifyWorkloadToken } from '@meshbus/trust';
import { createCsr, encodePem } from '@meshbus/x509';
import { registerIdentityCommands } from './identity.js';

interface Run {
  exitCode: number;
  out: string;
  err: string;
}

async function meshbus(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const program = new Command('meshbus')
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (err += text) });
  registerIdentityCommands(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { exitCode: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, out, err };
    throw error;
  }
}

let dir: string;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbus-cli-identity-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('meshbus identity init', () => {
  it('writes an anchor, an issuer that chains to it, and the token key pair, keys 0600', async () => {
    const out = join(dir, 'identity');
    const run = await meshbus('identity', 'init', '--dir', out);

    expect(run).toMatchObject({ exitCode: 0, err: '' });
    for (const file of ['ca.key', 'issuer.key', 'token.key']) expect(mode(join(out, file))).toBe(0o600);
    for (const file of ['ca.crt', 'issuer.crt', 'token.pub']) expect(existsSync(join(out, file))).toBe(true);
    expect(openssl('verify', '-CAfile', join(out, 'ca.crt'), join(out, 'issuer.crt'))).toMatch(/issuer.crt: OK/);
    expect(openssl('x509', '-in', join(out, 'issuer.crt'), '-noout', '-subject')).toMatch(/identity\.meshbus\.cluster\.local/);
    expect(run.out).toMatch(/trust anchor: CN=root\.meshbus\.cluster\.local, valid until/);
    expect(run.out).toMatch(/token signing key: wrote .*token\.key/);
    // The token public key belongs to the private key.
    const pub = createPublicKey(readFileSync(join(out, 'token.pub'), 'utf8'));
    expect(pub.equals(createPublicKey(readFileSync(join(out, 'token.key'), 'utf8')))).toBe(true);
  });

  it('uses the trust domain and validities it is given', async () => {
    const run = await meshbus('identity', 'init', '--dir', dir, '--trust-domain', 'mesh.example.org', '--anchor-validity', '48h', '--issuer-validity', '24h');

    expect(run.exitCode).toBe(0);
    const text = openssl('x509', '-in', join(dir, 'ca.crt'), '-noout', '-subject', '-enddate');
    expect(text).toMatch(/root\.meshbus\.mesh\.example\.org/);
    const notAfter = new Date(/notAfter=(.*)/.exec(text)![1]!).getTime();
    expect(Math.abs(notAfter - (Date.now() + 48 * 3_600_000))).toBeLessThan(60_000);
  });

  it('cuts an issuer that would outlive the anchor, and says so', async () => {
    const run = await meshbus('identity', 'init', '--dir', dir, '--anchor-validity', '2h', '--issuer-validity', '8760h');
    expect(run.exitCode).toBe(0);
    expect(run.out).toMatch(/cut to end with the anchor/);
  });

  it('refuses to replace trust material without --force, and keeps the token key with it', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    const issuer = readFileSync(join(dir, 'issuer.crt'), 'utf8');
    const tokenKey = readFileSync(join(dir, 'token.key'), 'utf8');

    const again = await meshbus('identity', 'init', '--dir', dir);
    expect(again.exitCode).toBe(1);
    expect(again.err).toMatch(/refusing to overwrite existing trust material: .*ca\.crt.*; pass --force to replace them/);
    expect(readFileSync(join(dir, 'issuer.crt'), 'utf8')).toBe(issuer);

    const forced = await meshbus('identity', 'init', '--dir', dir, '--force');
    expect(forced.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'issuer.crt'), 'utf8')).not.toBe(issuer);
    expect(readFileSync(join(dir, 'token.key'), 'utf8')).toBe(tokenKey);
    expect(forced.out).toMatch(/token signing key: kept/);
  });

  it('signs an issuer with an anchor made by openssl, without copying its key', async () => {
    writeFileSync(
      join(dir, 'ca.cnf'),
      ['[req]', 'distinguished_name = dn', '[dn]', '[root]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash'].join('\n'),
    );
    openssl(
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'my-root.key', '-out', 'my-root.crt',
      '-subj', '/CN=Example Corp Mesh Root', '-days', '30', '-config', 'ca.cnf', '-extensions', 'root',
    );
    const out = join(dir, 'identity');

    const run = await meshbus('identity', 'init', '--dir', out, '--anchor-cert', join(dir, 'my-root.crt'), '--anchor-key', join(dir, 'my-root.key'));

    expect(run).toMatchObject({ exitCode: 0, err: '' });
    expect(run.out).toMatch(/trust anchor: CN=Example Corp Mesh Root \(yours; its key was not copied\)/);
    expect(existsSync(join(out, 'ca.key'))).toBe(false);
    expect(openssl('verify', '-CAfile', join(out, 'ca.crt'), join(out, 'issuer.crt'))).toMatch(/OK/);
    expect(openssl('verify', '-CAfile', 'my-root.crt', join(out, 'issuer.crt'))).toMatch(/OK/);
    // Capped at the 30-day anchor, and accepted by the certificate authority.
    expect(run.out).toMatch(/cut to end with the anchor/);
    expect(() =>
      CertificateAuthority.fromPem({
        trustAnchorsPem: readFileSync(join(out, 'ca.crt'), 'utf8'),
        issuerCertificatePem: readFileSync(join(out, 'issuer.crt'), 'utf8'),
        issuerKeyPem: readFileSync(join(out, 'issuer.key'), 'utf8'),
      }),
    ).not.toThrow();
  });

  it('refuses an anchor key that does not belong to the anchor', async () => {
    await meshbus('identity', 'init', '--dir', join(dir, 'a'));
    await meshbus('identity', 'init', '--dir', join(dir, 'b'));
    const run = await meshbus('identity', 'init', '--dir', join(dir, 'c'), '--anchor-cert', join(dir, 'a', 'ca.crt'), '--anchor-key', join(dir, 'b', 'ca.key'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/--anchor-key .* does not belong to the certificate/);
    expect(existsSync(join(dir, 'c'))).toBe(false);
  });

  it('refuses an anchor that is not a CA', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'leaf.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    openssl('req', '-x509', '-key', 'leaf.key', '-out', 'leaf.crt', '-subj', '/CN=leaf', '-days', '1', '-addext', 'basicConstraints=critical,CA:FALSE');
    const run = await meshbus('identity', 'init', '--dir', join(dir, 'out'), '--anchor-cert', join(dir, 'leaf.crt'), '--anchor-key', join(dir, 'leaf.key'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/is not a CA certificate/);
  });

  it.each([
    [['--anchor-cert', 'ca.crt'], /--anchor-cert and --anchor-key go together/],
    [['--trust-domain', 'Cluster_Local'], /option '--trust-domain <domain>' argument 'Cluster_Local' is invalid.*must be a DNS name/],
    [['--anchor-validity', '10y'], /anchor validity "10y" must be a duration/],
    [['--issuer-validity', '30m'], /issuer validity 30m is shorter than 1h/],
    [['--anchor-validity', '1000000h'], /anchor validity 1000000h is longer than/],
    [['--dir', ''], /path is empty/],
    [['--unknown'], /unknown option '--unknown'/],
  ])('refuses %o with a message and exit code 1', async (flags, message) => {
    const run = await meshbus('identity', 'init', '--dir', join(dir, 'out'), ...flags);
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(message);
    expect(existsSync(join(dir, 'out', 'ca.crt'))).toBe(false);
  });
});

describe('meshbus identity token', () => {
  it('prints a token the identity service verifies with token.pub', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    const run = await meshbus('identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'token.key'), '--expires', '1h');

    expect(run.exitCode).toBe(0);
    const token = run.out.trim();
    const publicKey = createPublicKey(readFileSync(join(dir, 'token.pub'), 'utf8'));
    expect(verifyWorkloadToken(token, publicKey, { audience: 'identity.meshbus.io' })).toEqual({ namespace: 'shop', serviceAccount: 'web' });
    expect(() => verifyWorkloadToken(token, publicKey, { audience: 'identity.meshbus.io', now: new Date(Date.now() + 3_601_000) })).toThrow(/expired/);
  });

  it('uses the audience it is given', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    const run = await meshbus('identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'token.key'), '--audience', 'identity.test');
    const publicKey = createPublicKey(readFileSync(join(dir, 'token.pub'), 'utf8'));
    expect(verifyWorkloadToken(run.out.trim(), publicKey, { audience: 'identity.test' }).serviceAccount).toBe('web');
  });

  it.each([
    [['--namespace', 'Shop', '--service-account', 'web'], /namespace "Shop" must be a DNS label/],
    [['--namespace', 'shop', '--service-account', 'web.v1'], /service account "web.v1" must be a DNS label/],
    [['--service-account', 'web'], /required option '--namespace <name>' not specified/],
    [['--namespace', 'shop', '--service-account', 'web', '--expires', 'soon'], /token lifetime "soon" must be a duration/],
    [['--namespace', 'shop', '--service-account', 'web', '--audience', 'two words'], /audience "two words" must be/],
  ])('refuses %o', async (flags, message) => {
    const run = await meshbus('identity', 'token', '--key', join(dir, 'token.key'), ...flags);
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(message);
    expect(run.out).toBe('');
  });

  it('says how to get a key when there is none', async () => {
    const run = await meshbus('identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'missing.key'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/token signing key .*missing\.key cannot be read .*run `meshbus identity init` or pass --key/);
  });

  it('refuses a key type workload tokens do not use', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'rsa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const run = await meshbus('identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'rsa.key'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/P-256 or Ed25519/);
  });
});

describe('meshbus identity inspect', () => {
  it('describes an issuer certificate', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    const run = await meshbus('identity', 'inspect', join(dir, 'issuer.crt'));

    expect(run.exitCode).toBe(0);
    expect(run.out).toMatch(/^subject: +CN=identity\.meshbus\.cluster\.local$/m);
    expect(run.out).toMatch(/^issuer: +CN=root\.meshbus\.cluster\.local$/m);
    expect(run.out).toMatch(/^SAN: +\(none\)$/m);
    expect(run.out).toMatch(/^not after: +\S+Z \(valid, expires in 364d 23h\)$/m);
    expect(run.out).toMatch(/^type: +CA \(pathLen 0\)$/m);
    expect(run.out).toMatch(/^key: +ECDSA P-256$/m);
  });

  it('describes a workload leaf with its identity and every certificate of a bundle', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    const ca = CertificateAuthority.fromPem({
      trustAnchorsPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      issuerCertificatePem: readFileSync(join(dir, 'issuer.crt'), 'utf8'),
      issuerKeyPem: readFileSync(join(dir, 'issuer.key'), 'utf8'),
    });
    const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await ca.issue({ identity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] }) });
    writeFileSync(join(dir, 'leaf.pem'), encodePem('CERTIFICATE', issued.leafDer) + readFileSync(join(dir, 'issuer.crt'), 'utf8'));

    const run = await meshbus('identity', 'inspect', join(dir, 'leaf.pem'));

    expect(run.exitCode).toBe(0);
    expect(run.out).toMatch(/^certificate 1 of 2$/m);
    expect(run.out).toMatch(/^ {2}subject: +\(empty\)$/m);
    expect(run.out).toMatch(new RegExp(`^  SAN: +DNS:${identity.replaceAll('.', '\\.')}$`, 'm'));
    expect(run.out).toMatch(/^ {2}type: +not a CA$/m);
    expect(run.out).toMatch(/^ {2}key usage: +digitalSignature, keyEncipherment$/m);
    expect(run.out).toMatch(/^certificate 2 of 2$/m);
  });

  it('reads a DER certificate', async () => {
    await meshbus('identity', 'init', '--dir', dir);
    openssl('x509', '-in', join(dir, 'ca.crt'), '-outform', 'DER', '-out', join(dir, 'ca.der'));
    const run = await meshbus('identity', 'inspect', join(dir, 'ca.der'));
    expect(run.out).toMatch(/self-signed/);
  });

  it('refuses a file without a certificate', async () => {
    writeFileSync(join(dir, 'key.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const run = await meshbus('identity', 'inspect', join(dir, 'key.pem'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/key\.pem: the file holds no readable certificate/);
  });

  it('refuses a file that does not exist', async () => {
    const run = await meshbus('identity', 'inspect', join(dir, 'nope.pem'));
    expect(run.exitCode).toBe(1);
    expect(run.err).toMatch(/nope\.pem cannot be read/);
  });
});
