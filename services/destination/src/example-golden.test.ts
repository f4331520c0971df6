import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busValidator, type BusValidator, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { loadManifestFolder } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { computeDestinationState } from './compute.js';
import { DesiredStateIndex } from './desired-state.js';

// Regenerate the golden files after an intended change with:
//   npx vitest run --project unit services/destination -u
const validator: BusValidator = busValidator();
const examples = fileURLToPath(new URL('../../../examples/manifests/', import.meta.url));
const registered = JSON.parse(readFileSync(new URL('./testdata/example-registrations.json', import.meta.url), 'utf8')) as WorkloadRegistration[];

describe('the example manifests', () => {
  it('turn into the golden endpoint sets and profiles', async () => {
    const { resources, problems } = await loadManifestFolder(examples);
    expect(problems).toEqual([]);
    for (const r of registered) validator.check('workloadRegistered', r);

    const state = computeDestinationState(resources, registered, { controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
    for (const set of state.endpointSets.values()) validator.check('endpointSet', set);
    for (const profile of state.profiles.values()) validator.check('serviceProfile', profile);

    await expect(`${JSON.stringify(Object.fromEntries(state.endpointSets), null, 2)}\n`).toMatchFileSnapshot('./testdata/example-endpoint-sets.golden.json');
    await expect(`${JSON.stringify(Object.fromEntries(state.profiles), null, 2)}\n`).toMatchFileSnapshot('./testdata/example-profiles.golden.json');
  });

  it('give the same state when fed to the incremental index', async () => {
    const { resources } = await loadManifestFolder(examples);
    const options = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };
    const index = new DesiredStateIndex(options);
    index.update(resources, registered);
    const full = computeDestinationState(resources, registered, options);
    expect([...index.snapshot().endpointSets]).toEqual([...full.endpointSets]);
    expect([...index.snapshot().profiles]).toEqual([...full.profiles]);
  });
});
