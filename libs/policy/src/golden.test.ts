import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busValidator, type BusValidator } from '@meshbus/bus-schemas';
import { ManifestIndex } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import type { PolicyInputs } from './api.js';
import { computePolicies, createPolicyIndex } from './policy-index.js';
import { settings } from './testdata/builders.js';
import { registeredWorkloads } from './testdata/registered.js';

// Resources in, policy out: testdata/golden/<case>/input.yaml holds the
// manifests (decoded by @meshbus/manifests, as the manifests folder is),
// expected.json what the index computes from them. Workloads registered over
// the bus come from testdata/registered.ts. After an intended change, rewrite
// the expected files with
//   UPDATE_GOLDEN=1 npx vitest run --project unit libs/policy/src/golden.test.ts
// and read the diff.
const update = process.env.UPDATE_GOLDEN === '1';
const validator: BusValidator = busValidator();
const root = fileURLToPath(new URL('./testdata/golden/', import.meta.url));
const cases = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

/** The inputs of a case: its input.yaml through the manifest index; any manifest problem fails the case. */
function goldenInputs(name: string): PolicyInputs {
  const index = new ManifestIndex();
  index.apply({ file: 'input.yaml', text: readFileSync(`${root}${name}/input.yaml`, 'utf8') });
  expect(index.problems, `${name}/input.yaml has manifest problems`).toEqual([]);
  return { resources: index.resources, registered: registeredWorkloads[name] ?? [] };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

describe('golden policies', () => {
  it('has cases, and registered workloads only for existing cases', () => {
    expect(cases.length).toBeGreaterThan(10);
    for (const name of Object.keys(registeredWorkloads)) expect(cases).toContain(name);
  });

  for (const name of cases) {
    it(name, () => {
      const inputs = goldenInputs(name);
      const result = computePolicies(settings, inputs);
      for (const p of result.inbound.values()) validator.check('inboundPolicy', p);
      for (const p of result.outbound.values()) validator.check('outboundPolicy', p);
      for (const s of result.statuses.values()) validator.check('policyStatus', s);
      for (const r of result.rejected) validator.check('policyRejected', r);
      validator.check('policyDefaults', result.defaults);

      const output = json({
        defaults: result.defaults,
        inbound: Object.fromEntries(result.inbound),
        outbound: Object.fromEntries(result.outbound),
        statuses: Object.fromEntries(result.statuses),
        rejected: result.rejected,
      });
      const dir = `${root}${name}/`;
      if (update) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${dir}expected.json`, output);
      }
      expect(existsSync(`${dir}expected.json`), `${dir}expected.json is missing; run with UPDATE_GOLDEN=1`).toBe(true);
      expect(output).toBe(readFileSync(`${dir}expected.json`, 'utf8'));

      // The same inputs fed one collection at a time to the incremental index end in the same result.
      const index = createPolicyIndex(settings);
      const keys = Object.keys(inputs.resources) as (keyof PolicyInputs['resources'])[];
      let partial = { ...inputs.resources };
      for (const key of keys) partial = { ...partial, [key]: [] };
      for (const key of keys) {
        partial = { ...partial, [key]: inputs.resources[key] };
        index.update({ resources: partial, registered: inputs.registered });
      }
      expect([...index.result.inbound]).toEqual([...result.inbound]);
      expect([...index.result.outbound]).toEqual([...result.outbound]);
      expect([...index.result.statuses]).toEqual([...result.statuses]);
      expect(index.result.rejected).toEqual(result.rejected);
    });
  }
});
