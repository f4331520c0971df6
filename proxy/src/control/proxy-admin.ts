import { AdminServer, ReadinessChecks, silentLogger, type Logger, type Readiness, type Registry } from '@meshbus/runtime';

export { isLoopback } from '@meshbus/runtime';

/** Options of {@link ProxyAdmin}. */
export interface ProxyAdminOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 4191 */
  port?: number;
  registry: Registry;
  /** What /ready reports; see {@link proxyReadiness}. */
  readiness: () => Readiness;
  /** Called once, on the first POST /shutdown from the local host: starts the graceful shutdown. */
  onShutdown: () => void;
  logger?: Logger;
}

/** What the proxy must hold before it is ready. */
export interface ProxyReadinessSources {
  /** The certificate client (or anything with the certificate held now). */
  certificate: { readonly current: unknown };
  /** The inbound policy watches of the workload's ports, by port. */
  inboundPolicies: ReadonlyMap<number, { readonly current: unknown }>;
}

/**
 * The proxy's readiness: not ready until it holds its identity certificate and has received the
 * inbound policy of every configured port. Once held, they stay: losing the control plane later
 * does not make the proxy unready (it serves from what it has).
 */
export function proxyReadiness(sources: ProxyReadinessSources): ReadinessChecks {
  const checks = new ReadinessChecks();
  checks.add('identity', () => (sources.certificate.current === undefined ? 'no identity certificate yet' : undefined));
  checks.add('inbound-policy', () => {
    const missing = [...sources.inboundPolicies].filter(([, w]) => w.current === undefined).map(([port]) => port);
    return missing.length === 0 ? undefined : `no inbound policy yet for port${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  });
  return checks;
}

/**
 * The proxy's admin listener: the admin server every meshbus process serves
 * (`GET /live`, `GET /ready` with the reasons, `GET /metrics`), on the proxy's
 * default port 4191, with `POST /shutdown` (from the local host only: starts
 * the graceful shutdown, answers 202).
 */
export class ProxyAdmin extends AdminServer {
  constructor(options: ProxyAdminOptions) {
    super({
      ...(options.host !== undefined ? { host: options.host } : {}),
      port: options.port ?? 4191,
      registry: options.registry,
      readiness: options.readiness,
      logger: (options.logger ?? silentLogger()).child({ component: 'admin' }),
      onShutdown: options.onShutdown,
    });
  }
}
