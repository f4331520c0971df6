import { createRequire } from 'node:module';

/**
 * The meshbus release every package of this checkout belongs to, read from this package's
 * package.json (the same file from src/ and dist/): the proxy reports it, and the injector
 * writes it as the proxy image tag of the pods it meshes.
 */
export const meshbusVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
