export { canonicalJson } from './canonical-json.js';
export { MeshbusError, ConfigError, errorMessage } from './errors.js';
export { createLogger, silentLogger, type Logger, type LoggerOptions } from './logger.js';
export { createMetricsRegistry, Counter, Gauge, Histogram, Registry } from './metrics.js';
export { AdminServer, type AdminServerOptions, type Readiness } from './admin-server.js';
export { ResourceStack, runUntilSignalled, loadConfig, type Service, type ServiceState, type RunOptions } from './lifecycle.js';
export { envString, envRequired, envInt, envBool, envDuration, envLogLevel, parseDuration, parseHostPort, type Env } from './env.js';
export { natsInboxPrefix } from './nats-inbox.js';
