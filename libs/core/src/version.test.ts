import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { meshbusVersion } from './version.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const versionOf = (dir: string) => (JSON.parse(readFileSync(`${root}${dir}/package.json`, 'utf8')) as { version: string }).version;

describe('meshbusVersion', () => {
  it('is a release number, the same as every workspace package of the checkout', () => {
    expect(meshbusVersion).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    const dirs = ['.', 'proxy', 'cli', 'bus-schemas', ...['libs', 'services'].flatMap((d) => readdirSync(`${root}${d}`).map((n) => `${d}/${n}`))];
    for (const dir of dirs) expect(versionOf(dir), dir).toBe(meshbusVersion);
  });
});
