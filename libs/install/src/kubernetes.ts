// Kept apart from index.ts so that importing the library does not load @kubernetes/client-node.
export { readInstalledState, materialFromObjects, storedValues, InstalledStateError, type InstalledState } from './installed-state.js';
