#!/usr/bin/env node
import { ConfigError, createLogger, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig, type IdentityConfig } from './config.js';
import { createIdentityService } from './identity-service.js';

function readConfig(): IdentityConfig | undefined {
  try {
    return envToConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`meshbus identity: ${error.message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}

const config = readConfig();
if (config) {
  const logger = createLogger({ service: 'identity', level: config.logLevel });
  await runUntilSignalled(createIdentityService(config, { logger }), { logger });
}
