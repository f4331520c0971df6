import { isIpAddress } from '@meshbus/core';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && dns1123Label.test(value);
}

/** Like a DNS-1123 label, but starting with a letter (the rule for Service names). */
export function isDns1035Label(value: string): boolean {
  return value.length <= 63 && dns1035Label.test(value);
}

/** Dot-separated DNS-1123 labels, at most 253 characters. */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every(isDns1123Label);
}

/**
 * A named port (IANA service name, the Kubernetes rule for container port
 * names): at most 15 lowercase letters, digits and '-', with at least one
 * letter, no leading, trailing or doubled '-'.
 */
export function isPortName(value: string): boolean {
  return value.length <= 15 && dns1123Label.test(value) && /[a-z]/.test(value) && !value.includes('--');
}

export { isIpAddress };

/** Human-readable descriptions of the formats above, used in problem reasons. */
export const formatDescriptions = {
  'dns-1123-label': "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
  'dns-1035-label': "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters)",
  'dns-1123-subdomain': "a DNS-1123 subdomain (dot-separated DNS-1123 labels, at most 253 characters)",
  'port-name': "a port name (at most 15 lowercase letters, digits and '-', with at least one letter, no leading, trailing or doubled '-')",
  'ip-address': 'an IPv4 or IPv6 address',
} as const;

/** Name of a string format checked by the manifest schemas. */
export type FormatName = keyof typeof formatDescriptions;

/** The check behind each {@link FormatName}. */
export const formatChecks: Record<FormatName, (value: string) => boolean> = {
  'dns-1123-label': isDns1123Label,
  'dns-1035-label': isDns1035Label,
  'dns-1123-subdomain': isDns1123Subdomain,
  'port-name': isPortName,
  'ip-address': isIpAddress,
};
