#!/usr/bin/env node
// The demo's front end: answers every request after calling api (api.demo by
// default) with the same path. See README.md in this folder.
import { callUpstream, serve, settings } from './hop.mjs';

const config = settings('web', 'api.demo');
serve(config, (req) => callUpstream(config, req));
