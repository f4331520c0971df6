#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createMulticlusterService } from './composition-root.js';

const config = loadConfig('multicluster', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'multicluster', level: config.logLevel });
  await runUntilSignalled(createMulticlusterService(config, { logger }), { logger });
}
