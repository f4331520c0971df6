#!/usr/bin/env node
// The demo's API: answers every request after calling store (store.demo by
// default) with the same path. See README.md in this folder.
import { callUpstream, serve, settings } from './hop.mjs';

const config = settings('api', 'store.demo');
serve(config, (req) => callUpstream(config, req));
