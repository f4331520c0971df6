import { readFile } from 'node:fs/promises';
import { CertificateClient, type CertificateClientOptions } from '@meshbus/identity-client';
import type { Logger } from '@meshbus/runtime';
import type { ProxyConfig, TokenSource } from './config.js';
import { gatewayCredentials } from './gateway-pool.js';

/** The token provider of a {@link TokenSource}: a file is read again on every call (tokens rotate). */
export function tokenProvider(source: TokenSource): () => Promise<Uint8Array> {
  if (source.kind === 'env') {
    const token = Buffer.from(source.token.trim());
    return () => Promise.resolve(token);
  }
  return async () => {
    const text = (await readFile(source.path, 'utf8')).trim();
    if (text.length === 0) throw new Error(`the identity token file ${source.path} is empty`);
    return Buffer.from(text);
  };
}

/**
 * The proxy's {@link CertificateClient}: its identity, its token, all the gateways (it moves to
 * the next after a failure) and the gateway connection's credentials. Renewal at 70% of the
 * lifetime; a failed renewal keeps the current certificate.
 */
export function createCertificateClient(
  config: Pick<ProxyConfig, 'workload' | 'token' | 'gateways' | 'gatewayTransport'>,
  options: { logger?: Logger } & Partial<Pick<CertificateClientOptions, 'backoff' | 'onCertificate' | 'credentials'>> = {},
): CertificateClient {
  return new CertificateClient({
    identity: config.workload.identity,
    tokenProvider: tokenProvider(config.token),
    gateways: [...config.gateways],
    credentials: options.credentials ?? gatewayCredentials(config.gatewayTransport),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.onCertificate ? { onCertificate: options.onCertificate } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
