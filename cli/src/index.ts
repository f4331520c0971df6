export { createProgram } from './program.js';
export type { CliContext, TextSink } from './context.js';
export { readDevState, devStatePath, type DevState } from './dev-state.js';
