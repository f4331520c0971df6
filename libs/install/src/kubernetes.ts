// Kept apart from index.ts so that importing the library does not load @kubernetes/client-node.
export { readInstalledState, materialFromObjects, storedValues, keepLeafnodesInClear, InstalledStateError, type InstalledState, type LeafnodesInClear, type RunningLeafnodes } from './installed-state.js';
