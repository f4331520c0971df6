export { fuzzProperty, fuzzRuns, type FuzzOptions } from './fuzz-property.js';
