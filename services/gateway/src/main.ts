#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createGateway } from './composition-root.js';

const config = loadConfig('gateway', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'gateway', level: config.logLevel });
  await runUntilSignalled(createGateway(config, { logger }), { logger });
}
