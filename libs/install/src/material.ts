/*
 * The key material an installation holds: the mesh's trust anchors and
 * issuer, the injector's webhook CA and serving certificate, the gateway's
 * serving certificate, and the NATS logins. The renderer only copies it into
 * objects; it is generated here, read from `meshbus identity init` files, or
 * read back from a running installation so an upgrade keeps it.
 */
import { randomBytes, generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshbusError } from '@meshbus/core';
import { CertificateAuthority, createIssuer, createTrustAnchor, TrustMaterialFile } from '@meshbus/trust';
import { isIpAddress } from '@meshbus/core';
import {
  Oid,
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  createLeafCertificate,
  createRootCaCertificate,
  decodeDer,
  decodeGeneralNames,
  decodePem,
  encodeCommonName,
  encodePem,
  extendedKeyUsageExtension,
  ipAddressToBytes,
  ipAddressToText,
  keyIdentifierOf,
  keyUsageExtension,
  parseCertificate,
  randomSerialNumber,
  signCertificate,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  subjectPublicKeyInfoOf,
  type EncodableGeneralName,
} from '@meshbus/x509';
import { natsRoles, type NatsRole } from '@meshbus/local-nats';
import { componentName, natsLeafnodeServiceName } from './layout.js';

/** The mesh identity: anchors, and the issuer that signs workload certificates. */
export interface IdentityMaterial {
  readonly trustAnchorsPem: string;
  /** Absent when the issuer Secret is written by someone else (cert-manager). */
  readonly issuer?: { readonly certificatePem: string; readonly privateKeyPem: string };
}

/** A serving certificate and the CA that clients check it with. */
export interface ServingMaterial {
  readonly caPem: string;
  /** The certificate, followed by any intermediates. */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/**
 * The leaf node listener's serving certificate and the CA that signed it. The
 * CA's key is kept (in the Secret, not in the NATS pods) so that a new
 * certificate, for other hosts or near its end, is signed by the CA the linked
 * clusters already hold.
 */
export interface LeafnodeTlsMaterial extends ServingMaterial {
  readonly caKeyPem: string;
}

export interface NatsLogin {
  readonly user: string;
  readonly password: string;
}

/** Everything secret an installation is rendered with. */
export interface InstallMaterial {
  readonly identity: IdentityMaterial;
  readonly injectorTls: ServingMaterial;
  /** Absent when the gateway serves without TLS, or its certificate comes from elsewhere. */
  readonly gatewayTls?: ServingMaterial;
  readonly natsUsers: Readonly<Record<NatsRole, NatsLogin>>;
  /** The leaf node listener's certificate and its CA, when this cluster exports (`multicluster.exportTo`) over TLS. */
  readonly leafnodeTls?: LeafnodeTlsMaterial;
  /** Passwords of the link logins (`link-<cluster>`) this cluster gives the clusters in `multicluster.exportTo`, by cluster. */
  readonly linkPasswords?: Readonly<Record<string, string>>;
}

/** Trust material that cannot be used; the message says which file or object and why. */
export class InstallMaterialError extends MeshbusError {
  override readonly name = 'InstallMaterialError';
  constructor(message: string) {
    super('InvalidInstallMaterial', message);
  }
}

const backdateMs = 60_000;
const day = 86_400_000;

function p256(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function pkcs8(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The DNS name the injector's webhook is called at. */
export function injectorServiceHost(namespace: string): string {
  return `${componentName('injector')}.${namespace}.svc`;
}

/** The DNS name proxies reach the gateway at (the injector's default gateway address). */
export function gatewayServiceHost(namespace: string, clusterDomain: string): string {
  return `${componentName('gateway')}.${namespace}.svc.${clusterDomain}`;
}

/**
 * A new webhook CA (ECDSA P-256, 10 years) and a serving certificate for the
 * injector Service signed by it (the API server checks it against the
 * `caBundle` of the webhook configuration).
 */
export function createInjectorTls(namespace: string, now: Date): ServingMaterial {
  const caKey = p256();
  const notBefore = new Date(now.getTime() - backdateMs);
  const caDer = createRootCaCertificate({ commonName: `meshbus-injector-ca.${namespace}`, privateKey: caKey, validity: { notBefore, notAfter: new Date(now.getTime() + 3650 * day) }, pathLen: 0 });
  const key = p256();
  const certificateDer = createLeafCertificate({
    dnsName: injectorServiceHost(namespace),
    commonName: injectorServiceHost(namespace),
    publicKey: key,
    issuer: { certificateDer: caDer, privateKey: caKey },
    validity: { notBefore, notAfter: new Date(now.getTime() + 3650 * day) },
  });
  return { caPem: encodePem('CERTIFICATE', caDer), certificatePem: encodePem('CERTIFICATE', certificateDer), privateKeyPem: pkcs8(key) };
}

/**
 * The gateway's serving certificate, signed by the mesh issuer and served
 * with it, so proxies check it against the trust anchors they already hold.
 * It ends with the issuer, at most a year from now.
 */
export function createGatewayTls(identity: IdentityMaterial, namespace: string, clusterDomain: string, now: Date): ServingMaterial {
  if (!identity.issuer) throw new InstallMaterialError('the gateway certificate is signed by the issuer, which is not available (external issuer): turn gateway.tls off or provide the Secret meshbus-gateway-tls');
  const issuerDer = decodePem(identity.issuer.certificatePem, 'CERTIFICATE');
  const issuerEnd = parseCertificate(issuerDer).notAfter.getTime();
  if (issuerEnd <= now.getTime() + backdateMs) {
    throw new InstallMaterialError(`the issuer expired on ${new Date(issuerEnd).toISOString()}: make a new one with \`meshbus identity init\` and give it with --identity-dir`);
  }
  const key = p256();
  const host = gatewayServiceHost(namespace, clusterDomain);
  const certificateDer = createLeafCertificate({
    dnsName: host,
    commonName: host.length <= 64 ? host : undefined,
    publicKey: key,
    issuer: { certificateDer: issuerDer, privateKey: createPrivateKey(identity.issuer.privateKeyPem) },
    validity: { notBefore: new Date(now.getTime() - backdateMs), notAfter: new Date(Math.min(issuerEnd, now.getTime() + 365 * day)) },
  });
  return { caPem: identity.trustAnchorsPem, certificatePem: encodePem('CERTIFICATE', certificateDer) + identity.issuer.certificatePem, privateKeyPem: pkcs8(key) };
}

/** The names the leaf node listener's certificate carries: the Service's in-cluster names, then the hosts linked clusters use. */
export function leafnodeTlsHosts(namespace: string, clusterDomain: string, hosts: readonly string[]): string[] {
  const service = `${natsLeafnodeServiceName}.${namespace}.svc`;
  return [...new Set([service, `${service}.${clusterDomain}`, ...hosts])];
}

/** A host as a certificate's subjectAltName gives it back: an IP address in RFC 5952 text. */
function canonicalHost(host: string): string {
  const ip = isIpAddress(host) ? ipAddressToBytes(host) : undefined;
  return ip ? ipAddressToText(ip) : host;
}

/** The DNS names and IP addresses a certificate names, sorted. */
export function certificateHosts(certificatePem: string): string[] {
  const san = parseCertificate(decodePem(certificatePem, 'CERTIFICATE')).extensions.find((e) => e.oid === Oid.subjectAltName);
  if (!san) return [];
  return decodeGeneralNames(decodeDer(san.value))
    .flatMap((n) => (n.type === 'dns' || n.type === 'ip' ? [n.value] : []))
    .sort();
}

/** Whether a certificate names exactly `hosts`. */
export function namesExactly(certificatePem: string, hosts: readonly string[]): boolean {
  const have = certificateHosts(certificatePem);
  const want = [...new Set(hosts.map(canonicalHost))].sort();
  return have.length === want.length && have.every((h, i) => h === want[i]);
}

/**
 * The leaf node listener's serving certificate (ECDSA P-256, 10 years, as the
 * injector's), naming every host in `hosts` (DNS names and IP addresses), for
 * server and client authentication, signed by the CA of `ca`, or by a new CA
 * (ECDSA P-256, 10 years) without one.
 */
export function createLeafnodeTls(namespace: string, hosts: readonly string[], now: Date, ca?: { readonly caPem: string; readonly caKeyPem: string }): LeafnodeTlsMaterial {
  if (hosts.length === 0) throw new InstallMaterialError('the leaf node certificate needs at least one host');
  const notBefore = new Date(now.getTime() - backdateMs);
  const notAfter = new Date(now.getTime() + 3650 * day);
  let caDer: Uint8Array;
  let caKey: KeyObject;
  if (ca) {
    caDer = decodePem(ca.caPem, 'CERTIFICATE');
    caKey = createPrivateKey(ca.caKeyPem);
  } else {
    caKey = p256();
    caDer = createRootCaCertificate({ commonName: `meshbus-nats-leafnode-ca.${namespace}`, privateKey: caKey, validity: { notBefore, notAfter }, pathLen: 0 });
  }
  const caCertificate = parseCertificate(caDer);
  const caEnd = caCertificate.notAfter.getTime();
  if (caEnd <= now.getTime() + backdateMs) throw new InstallMaterialError(`the leaf node CA expired on ${new Date(caEnd).toISOString()}: delete the Secret ${namespace}/meshbus-nats-leafnode-tls for a new one, and give the linked clusters its ca.crt`);
  const key = p256();
  const spki = subjectPublicKeyInfoOf(key);
  const names: EncodableGeneralName[] = hosts.map((h) => (isIpAddress(h) ? { type: 'ip', value: h } : { type: 'dns', value: h }));
  const commonName = hosts.find((h) => !isIpAddress(h) && h.length <= 64);
  const der = signCertificate(
    {
      serialNumber: randomSerialNumber(),
      issuer: caCertificate.subject.der,
      subject: encodeCommonName(commonName),
      notBefore,
      notAfter: new Date(Math.min(caEnd, notAfter.getTime())),
      subjectPublicKeyInfo: spki.der,
      extensions: [
        basicConstraintsExtension({ ca: false }),
        keyUsageExtension(['digitalSignature', 'keyEncipherment']),
        extendedKeyUsageExtension([Oid.serverAuth, Oid.clientAuth]),
        subjectKeyIdentifierExtension(keyIdentifierOf(spki)),
        authorityKeyIdentifierExtension(keyIdentifierOf(caCertificate.subjectPublicKeyInfo)),
        subjectAltNameExtension(names, { critical: commonName === undefined }),
      ],
    },
    caKey,
  );
  return { caPem: encodePem('CERTIFICATE', caDer), caKeyPem: pkcs8(caKey), certificatePem: encodePem('CERTIFICATE', der), privateKeyPem: pkcs8(key) };
}

/** A new trust anchor (10 years) and issuer (1 year), as `meshbus identity init` makes them. */
export function createIdentityMaterial(trustDomain: string, now: Date): IdentityMaterial {
  const notBefore = new Date(now.getTime() - backdateMs);
  const anchor = createTrustAnchor({ commonName: `root.meshbus.${trustDomain}`, validity: { notBefore, notAfter: new Date(now.getTime() + 3650 * day) } });
  const issuer = createIssuer({ anchor, commonName: `identity.meshbus.${trustDomain}`, validity: { notBefore, notAfter: new Date(now.getTime() + 365 * day) } });
  return { trustAnchorsPem: anchor.certificatePem, issuer };
}

/** New random logins for every NATS role (user name = role), as `meshbus nats-auth` creates them. */
export function createNatsUsers(): Record<NatsRole, NatsLogin> {
  return Object.fromEntries(natsRoles.map((role) => [role, { user: role, password: randomBytes(24).toString('base64url') }])) as Record<NatsRole, NatsLogin>;
}

/** A new password for a link login (letters, digits, `-` and `_`: it goes into a leaf node URL as it is). */
export function createLinkPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** Checks issuer material the way the identity service will; throws {@link InstallMaterialError} naming `source`. */
export function checkIdentityMaterial(identity: IdentityMaterial, source: string, now: Date): void {
  if (!identity.trustAnchorsPem.includes('-----BEGIN CERTIFICATE-----')) throw new InstallMaterialError(`${source}: the trust anchors hold no PEM certificate`);
  if (!identity.issuer) return;
  try {
    CertificateAuthority.fromPem({ trustAnchorsPem: identity.trustAnchorsPem, issuerCertificatePem: identity.issuer.certificatePem, issuerKeyPem: identity.issuer.privateKeyPem, now });
  } catch (err) {
    throw new InstallMaterialError(`${source}: the identity service would refuse this issuer: ${(err as Error).message}`);
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InstallMaterialError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Reads what `meshbus identity init --dir <dir>` wrote: `ca.crt`, and
 * `issuer.crt` with `issuer.key` unless `anchorsOnly` (an external issuer).
 * The anchor's key (`ca.key`) is never read: it does not go into the cluster.
 */
export async function readIdentityDir(dir: string, options: { anchorsOnly: boolean; now: Date }): Promise<IdentityMaterial> {
  const anchorsPath = join(dir, TrustMaterialFile.anchorCertificate);
  const trustAnchorsPem = await readOptional(anchorsPath);
  if (trustAnchorsPem === undefined) throw new InstallMaterialError(`--identity-dir ${dir}: ${anchorsPath} is missing; create the trust material with \`meshbus identity init --dir ${dir}\``);
  let material: IdentityMaterial = { trustAnchorsPem };
  if (!options.anchorsOnly) {
    const certificatePath = join(dir, TrustMaterialFile.issuerCertificate);
    const keyPath = join(dir, TrustMaterialFile.issuerKey);
    const certificatePem = await readOptional(certificatePath);
    const privateKeyPem = await readOptional(keyPath);
    if (certificatePem === undefined || privateKeyPem === undefined) {
      throw new InstallMaterialError(`--identity-dir ${dir}: ${certificatePem === undefined ? certificatePath : keyPath} is missing; run \`meshbus identity init --dir ${dir}\``);
    }
    material = { trustAnchorsPem, issuer: { certificatePem, privateKeyPem } };
  }
  checkIdentityMaterial(material, `--identity-dir ${dir}`, options.now);
  return material;
}
