import { ConfigError, isDnsLabel } from '@meshbus/core';

/**
 * Which client identities the multicluster gateway admits. Every client already proved a
 * certificate chaining to the proxy's trust anchors; this narrows who among them may open tunnels.
 */
export interface IdentityAllowList {
  /** Exact identities, lower-case. */
  readonly exact: ReadonlySet<string>;
  /** Suffixes of `*.suffix` patterns, with their leading dot (`.shop.serviceaccount...`). */
  readonly suffixes: readonly string[];
}

function isDnsName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => isDnsLabel(label));
}

/**
 * Parses `MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES`: a comma list of exact identities
 * (`web.shop.serviceaccount.identity.meshbus.cluster.local`) or `*.suffix` patterns
 * (`*.shop.serviceaccount.identity.meshbus.cluster.local`, one or more labels before the suffix).
 */
export function parseAllowedIdentities(text: string, name = 'MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES'): IdentityAllowList {
  const entries = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new ConfigError(`${name} lists no identity; leave it unset to admit every identity of the trust domain`);
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('*.')) {
      const suffix = entry.slice(2);
      if (!isDnsName(suffix) || !suffix.includes('.')) throw new ConfigError(`${name}: ${JSON.stringify(entry)} is not *.<dns name> with at least two labels after the *`);
      suffixes.push(`.${suffix}`);
      continue;
    }
    if (entry.includes('*')) throw new ConfigError(`${name}: ${JSON.stringify(entry)}: a * may only stand as the whole first label (*.suffix)`);
    if (!isDnsName(entry)) throw new ConfigError(`${name}: ${JSON.stringify(entry)} is not an identity (a DNS name of lower-case labels)`);
    exact.add(entry);
  }
  return { exact, suffixes };
}

/**
 * The default list: every workload identity of the trust domain of `ownIdentity` (the gateway's
 * own, `<sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>`), that is
 * `*.*.serviceaccount.identity.<control-ns>.<trust-domain>`.
 */
export function trustDomainAllowList(ownIdentity: string): IdentityAllowList {
  const marker = '.serviceaccount.identity.';
  const at = ownIdentity.toLowerCase().indexOf(marker);
  if (at < 0) throw new ConfigError(`the proxy's identity ${JSON.stringify(ownIdentity)} is not a workload identity (<sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>)`);
  return { exact: new Set(), suffixes: [ownIdentity.toLowerCase().slice(at)] };
}

/** Whether `identity` is admitted: named exactly, or at least one label followed by a listed suffix. */
export function identityAllowed(list: IdentityAllowList, identity: string): boolean {
  const id = identity.toLowerCase();
  if (list.exact.has(id)) return true;
  return list.suffixes.some((suffix) => id.length > suffix.length && id.endsWith(suffix) && !id.slice(0, id.length - suffix.length).split('.').some((l) => l === ''));
}
