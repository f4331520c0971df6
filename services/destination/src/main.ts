#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createDestinationService } from './composition-root.js';

const config = loadConfig('destination', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'destination', level: config.logLevel });
  await runUntilSignalled(createDestinationService(config, { logger }), { logger });
}
