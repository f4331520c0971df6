import { MeshbusError } from './errors.js';

/** A service account, namespace, control namespace or trust domain is not a valid DNS-1123 name. */
export class IdentityNameError extends MeshbusError {
  override name = 'IdentityNameError';
  constructor(message: string) {
    super('InvalidIdentityName', message);
  }
}

/** The parts an identity name is made of. */
export interface IdentityNameParts {
  /** The workload's service account; a DNS-1123 label (names with dots are not accepted). */
  readonly serviceAccount: string;
  /** The workload's namespace; a DNS-1123 label. */
  readonly namespace: string;
  /** The namespace the control plane runs in; a DNS-1123 label. */
  readonly controlNamespace: string;
  /** The mesh's trust domain, such as `cluster.local`; a DNS-1123 subdomain. */
  readonly trustDomain: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_DNS_NAME_LENGTH = 253;

/** Whether `text` is a DNS-1123 label: lowercase letters, digits and inner hyphens, at most 63 characters. */
export function isDnsLabel(text: string): boolean {
  return LABEL.test(text);
}

/** Whether `text` is a DNS-1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDnsSubdomain(text: string): boolean {
  return text.length <= MAX_DNS_NAME_LENGTH && text.split('.').every(isDnsLabel);
}

function requireLabel(field: string, value: string): void {
  if (!isDnsLabel(value)) {
    throw new IdentityNameError(
      `${field} ${JSON.stringify(value)} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)`,
    );
  }
}

/**
 * The TLS identity of a workload: `<sa>.<ns>.serviceaccount.identity.<control-ns>.<trust-domain>`.
 * Throws {@link IdentityNameError} if a part is not a valid DNS-1123 name.
 */
export function identityName(parts: IdentityNameParts): string {
  requireLabel('service account', parts.serviceAccount);
  requireLabel('namespace', parts.namespace);
  requireLabel('control namespace', parts.controlNamespace);
  if (!isDnsSubdomain(parts.trustDomain)) {
    throw new IdentityNameError(
      `trust domain ${JSON.stringify(parts.trustDomain)} is not a DNS-1123 subdomain such as cluster.local`,
    );
  }
  const name = `${parts.serviceAccount}.${parts.namespace}.serviceaccount.identity.${parts.controlNamespace}.${parts.trustDomain}`;
  if (name.length > MAX_DNS_NAME_LENGTH) {
    throw new IdentityNameError(`identity ${name} is longer than 253 characters`);
  }
  return name;
}

/**
 * The service account and namespace of an identity issued in this mesh, or undefined if `identity`
 * is not of the form {@link identityName} produces for this control namespace and trust domain.
 */
export function parseIdentityName(
  identity: string,
  mesh: Pick<IdentityNameParts, 'controlNamespace' | 'trustDomain'>,
): { serviceAccount: string; namespace: string } | undefined {
  const suffix = `.serviceaccount.identity.${mesh.controlNamespace}.${mesh.trustDomain}`;
  if (!identity.endsWith(suffix)) return undefined;
  const labels = identity.slice(0, -suffix.length).split('.');
  if (labels.length !== 2) return undefined;
  const [serviceAccount = '', namespace = ''] = labels;
  if (!isDnsLabel(serviceAccount) || !isDnsLabel(namespace)) return undefined;
  return { serviceAccount, namespace };
}
