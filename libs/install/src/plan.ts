/*
 * What `meshbus install` and `meshbus upgrade` do before rendering: merge the
 * values from their sources, and choose the key material (kept from the
 * running installation, given by the user, or new).
 */
import { natsRoles } from '@meshbus/local-nats';
import { decodePem, parseCertificate } from '@meshbus/x509';
import {
  InstallMaterialError,
  createGatewayTls,
  createLeafnodeTls,
  leafnodeTlsHosts,
  namesExactly,
  createIdentityMaterial,
  createInjectorTls,
  createLinkPassword,
  createNatsUsers,
  type IdentityMaterial,
  type InstallMaterial,
  type LeafnodeTlsMaterial,
  type NatsLogin,
  type ServingMaterial,
} from './material.js';
import { mergeValues, parseSetValues, parseValuesYaml, resolveValues, validateValues, type InstallValues } from './values.js';

/** Where values come from, lowest precedence first: stored values, files, `--set`, then flags. */
export interface ValueSources {
  /** The values of the running installation (upgrade). */
  readonly stored?: InstallValues;
  readonly files?: readonly { readonly source: string; readonly text: string }[];
  readonly sets?: readonly string[];
  /** Values from dedicated flags (`--ha`, `--nats-url`, `--namespace`). */
  readonly flags?: InstallValues;
}

/** Merges and checks the values; errors name the key and where it came from. */
export function composeValues(sources: ValueSources): InstallValues {
  const layers: InstallValues[] = [];
  for (const file of sources.files ?? []) layers.push(parseValuesYaml(file.text, file.source));
  for (const set of sources.sets ?? []) layers.push(parseSetValues(set));
  if (sources.flags) layers.push(sources.flags);
  return validateValues(mergeValues(sources.stored ?? {}, ...layers), 'the merged values');
}

/** Key material found in a running installation; any part may be missing. */
export interface ExistingMaterial {
  readonly identity?: IdentityMaterial;
  readonly injectorTls?: ServingMaterial;
  readonly gatewayTls?: ServingMaterial;
  readonly leafnodeTls?: LeafnodeTlsMaterial;
  readonly natsUsers?: Partial<Record<(typeof natsRoles)[number], NatsLogin>>;
  readonly linkPasswords?: Readonly<Record<string, string>>;
}

export interface MaterialChoice {
  readonly values: InstallValues;
  readonly version: string;
  /** From `--identity-dir`: replaces what the installation holds. */
  readonly identity?: IdentityMaterial;
  /** From `--nats-users` (the users file of `meshbus nats-auth`): replaces the installation's logins. */
  readonly natsUsers?: Partial<Record<(typeof natsRoles)[number], NatsLogin>>;
  readonly existing?: ExistingMaterial;
  readonly now: Date;
}

/** A serving certificate is renewed when it has less than this left. */
const renewBeforeMs = 30 * 86_400_000;

function expiresSoon(material: ServingMaterial, now: Date): boolean {
  try {
    return parseCertificate(decodePem(material.certificatePem, 'CERTIFICATE')).notAfter.getTime() - now.getTime() < renewBeforeMs;
  } catch {
    return true;
  }
}

/**
 * The material to render with. Kept from the running installation: the issuer
 * and anchors (unless `--identity-dir` gives new ones), the webhook CA and
 * certificate, the gateway certificate (re-signed when the issuer changes or
 * it is near its end), the NATS passwords (a role added since gets a new
 * one), the leaf node CA (its certificate re-signed by it for other hosts or
 * near its end). Given material (`identity`, `natsUsers`) wins; generated where
 * there is nothing to keep.
 */
export function chooseMaterial(choice: MaterialChoice): InstallMaterial {
  const v = resolveValues(choice.values, choice.version);
  const existing = choice.existing ?? {};
  let identity = choice.identity ?? existing.identity;
  if (identity === undefined) {
    if (v.identity.externalIssuer) {
      throw new InstallMaterialError('identity.issuer.external needs the trust anchors: give --identity-dir with the ca.crt the external issuer chains to');
    }
    identity = createIdentityMaterial(v.trustDomain, choice.now);
  }
  if (!v.identity.externalIssuer && identity.issuer === undefined) {
    throw new InstallMaterialError('the issuer certificate and key are needed (issuer.crt and issuer.key in --identity-dir), unless identity.issuer.external is true');
  }
  const injectorTls = existing.injectorTls && !expiresSoon(existing.injectorTls, choice.now) ? existing.injectorTls : createInjectorTls(v.namespace, choice.now);
  let gatewayTls: ServingMaterial | undefined;
  if (v.gatewayTls) {
    const issuerChanged = choice.identity !== undefined && choice.identity.issuer?.certificatePem !== existing.identity?.issuer?.certificatePem;
    if (existing.gatewayTls && !issuerChanged && !expiresSoon(existing.gatewayTls, choice.now)) gatewayTls = existing.gatewayTls;
    else if (identity.issuer) gatewayTls = createGatewayTls(identity, v.namespace, v.clusterDomain, choice.now);
  }
  const fresh = createNatsUsers();
  const natsUsers = Object.fromEntries(natsRoles.map((role) => [role, choice.natsUsers?.[role] ?? existing.natsUsers?.[role] ?? fresh[role]])) as InstallMaterial['natsUsers'];
  // A link login keeps its password while its cluster stays in exportTo: the linked cluster holds a copy.
  const exportTo = v.multicluster?.exportTo ?? [];
  const linkPasswords = Object.fromEntries(exportTo.map((cluster) => [cluster, existing.linkPasswords?.[cluster] ?? createLinkPassword()]));
  // The linked clusters hold a copy of the leaf node CA: it is kept, and signs a new certificate when the hosts change.
  let leafnodeTls: LeafnodeTlsMaterial | undefined;
  const listenTls = v.multicluster?.leafnode.tls;
  if (listenTls && exportTo.length > 0 && !v.externalNatsUrl) {
    const hosts = leafnodeTlsHosts(v.namespace, v.clusterDomain, listenTls.hosts);
    const kept = existing.leafnodeTls;
    if (kept && namesExactly(kept.certificatePem, hosts) && !expiresSoon(kept, choice.now)) leafnodeTls = kept;
    else leafnodeTls = createLeafnodeTls(v.namespace, hosts, choice.now, kept);
  }
  return { identity, injectorTls, ...(gatewayTls ? { gatewayTls } : {}), natsUsers, ...(exportTo.length > 0 ? { linkPasswords } : {}), ...(leafnodeTls ? { leafnodeTls } : {}) };
}
