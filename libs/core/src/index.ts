export { MeshbusError, ConfigError, errorMessage } from './errors.js';
export { IdentityNameError, identityName, isDnsLabel, isDnsSubdomain, parseIdentityName, type IdentityNameParts } from './identity-name.js';
export { IpAddressError, isIpAddress, parseIp, formatIp, canonicalIp, compareIp, type ParsedIp } from './ip.js';
export { parseCidr, formatCidr, cidrContains, type Cidr, type ParseCidrOptions } from './ip-cidr.js';
export { Base64Error, encodeBase64, decodeBase64, encodeBase64Url, decodeBase64Url } from './base64.js';
export { meshbusVersion } from './version.js';
export { isClusterName, clusterNameRule, exportedServiceLabel, mirrorClusterLabel } from './cluster-name.js';
