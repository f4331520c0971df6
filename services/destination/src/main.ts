#!/usr/bin/env node
import { createLogger, runUntilSignalled } from '@meshbus/runtime';
import { envToConfig } from './config.js';
import { createDestinationService } from './destination-service.js';

const config = envToConfig(process.env);
const logger = createLogger({ service: 'destination', level: config.logLevel });
await runUntilSignalled(createDestinationService(config, { logger }), { logger });
