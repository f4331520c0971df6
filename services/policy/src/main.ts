#!/usr/bin/env node
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createPolicyService } from './composition-root.js';

const config = loadConfig('policy', () => envToConfig(process.env));
if (config) {
  const logger = createLogger({ service: 'policy', level: config.logLevel });
  await runUntilSignalled(createPolicyService(config, { logger }), { logger });
}
