export * from './mirror.js';
export * from './exports.js';
