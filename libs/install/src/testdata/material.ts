import { natsRoles, type NatsRole } from '@meshbus/local-nats';
import type { InstallMaterial, NatsLogin } from '../material.js';

const pem = (label: string, what: string) => `-----BEGIN ${label}-----\n${Buffer.from(`fixed test ${what}`).toString('base64')}\n-----END ${label}-----\n`;

/** Fixed stand-ins for generated key material, so a render is deterministic (golden files). */
export const fixedTestMaterial: InstallMaterial = {
  identity: {
    trustAnchorsPem: pem('CERTIFICATE', 'trust anchor'),
    issuer: { certificatePem: pem('CERTIFICATE', 'issuer'), privateKeyPem: pem('PRIVATE KEY', 'issuer key') },
  },
  injectorTls: { caPem: pem('CERTIFICATE', 'webhook CA'), certificatePem: pem('CERTIFICATE', 'injector serving certificate'), privateKeyPem: pem('PRIVATE KEY', 'injector key') },
  gatewayTls: { caPem: pem('CERTIFICATE', 'trust anchor'), certificatePem: pem('CERTIFICATE', 'gateway serving certificate'), privateKeyPem: pem('PRIVATE KEY', 'gateway key') },
  natsUsers: Object.fromEntries(natsRoles.map((role) => [role, { user: role, password: `test-password-${role}` }])) as Record<NatsRole, NatsLogin>,
};
