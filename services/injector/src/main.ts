#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createInjectorService } from './composition-root.js';

const config = loadConfig('injector', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'injector', level: config.logLevel });
  await runUntilSignalled(createInjectorService(config, { logger }), { logger });
}
