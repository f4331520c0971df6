import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@meshbus/testing';
import { FolderNamespaceLookup } from './namespace-lookup.js';

const namespaceYaml = (inject: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: ${inject}\n`;

describe('FolderNamespaceLookup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshbus-ns-lookup-'));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('waits for the first reading only, then answers from the last one while a stale one is read again', async () => {
    writeFileSync(join(dir, 'ns.yaml'), namespaceYaml('enabled'));
    let now = 0;
    const lookup = new FolderNamespaceLookup(dir, 1000, () => now);
    expect(await lookup.get('shop')).toEqual({ name: 'shop', annotations: { 'meshbus.io/inject': 'enabled' } });
    expect(await lookup.get('other')).toBeUndefined();

    writeFileSync(join(dir, 'ns.yaml'), namespaceYaml('disabled'));
    now = 500;
    expect((await lookup.get('shop'))?.annotations['meshbus.io/inject']).toBe('enabled');
    now = 1500;
    // Stale: this answer is still the old reading; it starts the new one.
    expect((await lookup.get('shop'))?.annotations['meshbus.io/inject']).toBe('enabled');
    await waitFor(async () => (await lookup.get('shop'))?.annotations['meshbus.io/inject'] === 'disabled', { what: 'the new reading' });
  });
});
