#!/usr/bin/env node
import { createLogger, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createGateway } from './gateway-service.js';

const config = envToConfig(process.env);
const logger = createLogger({ service: 'gateway', level: config.logLevel });
await runUntilSignalled(createGateway(config, { logger }), { logger });
