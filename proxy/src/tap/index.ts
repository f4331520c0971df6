/* The proxy's side of `meshbus tap`: sessions, filters, header allowlist. */
export * from './sessions.js';
