#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { createIdentityService } from './composition-root.js';
import { envToConfig } from './config.js';

const config = loadConfig('identity', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'identity', level: config.logLevel });
  await runUntilSignalled(createIdentityService(config, { logger }), { logger });
}
