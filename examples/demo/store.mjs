#!/usr/bin/env node
// The demo's store: the last hop, it calls nobody. See README.md in this folder.
import { serve, settings } from './hop.mjs';

const items = ['apples', 'pears', 'plums'];
const config = settings('store', '');
serve(config, async () => ({ status: 200, lines: [`items: ${items.join(', ')}`] }));
