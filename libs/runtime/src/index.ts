export { canonicalJson } from './canonical-json.js';
export { MeshbusError, ConfigError, errorMessage } from '@meshbus/core';
export { createLogger, silentLogger, isLogLevel, logLevels, type LogLevel, type Logger, type LoggerOptions } from './logger.js';
export { createMetricsRegistry, Counter, Gauge, Histogram, Registry } from './metrics.js';
export { AdminServer, type AdminServerOptions, type LogLevelControl } from './admin-server.js';
export { ReadinessChecks, type Readiness, type ReadinessCheck } from './readiness.js';
export { ServiceHost, type ServiceHostOptions, type HostOverrides, type HostConnection, type ConnectionFactory } from './service-host.js';
export { ResourceStack, runUntilSignalled, loadConfig, type Service, type ServiceState, type RunOptions } from './lifecycle.js';
export { envString, envRequired, envInt, envBool, envDuration, envLogLevel, parseDuration, parseHostPort, type Env } from './env.js';
