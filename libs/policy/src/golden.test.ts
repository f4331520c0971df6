import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busValidator, type BusValidator } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import type { PolicyInputs } from './api.js';
import { computePolicies, createPolicyIndex } from './policy-index.js';
import { settings } from './testdata/builders.js';
import { goldenCases } from './testdata/golden-cases.js';

// Resources in, policy out: testdata/golden/<case>/input.json holds the typed
// resources, expected.json what the index computes from them. After an
// intended change, rewrite the expected files with
//   UPDATE_GOLDEN=1 npx vitest run --project unit libs/policy/src/golden.test.ts
// and read the diff.
const update = process.env.UPDATE_GOLDEN === '1';
const validator: BusValidator = busValidator();
const folder = (name: string) => fileURLToPath(new URL(`./testdata/golden/${name}/`, import.meta.url));

/**
 * The inputs of a case. The manifest decoders do not read policy kinds yet,
 * so the cases are typed resources built in golden-cases.ts; once they do,
 * this reads input.yaml through the manifest index instead.
 */
function goldenInputs(name: string): PolicyInputs {
  const inputs = goldenCases[name];
  if (!inputs) throw new Error(`no golden case ${name}`);
  return inputs;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function nonEmpty(inputs: PolicyInputs) {
  const resources = Object.fromEntries(Object.entries(inputs.resources).filter(([, list]) => (list as unknown[]).length > 0));
  return inputs.registered.length > 0 ? { resources, registered: inputs.registered } : { resources };
}

describe('golden policies', () => {
  for (const name of Object.keys(goldenCases)) {
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
      const dir = folder(name);
      if (update) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${dir}input.json`, json(nonEmpty(inputs)));
        writeFileSync(`${dir}expected.json`, output);
      }
      expect(existsSync(`${dir}expected.json`), `${dir}expected.json is missing; run with UPDATE_GOLDEN=1`).toBe(true);
      expect(readFileSync(`${dir}input.json`, 'utf8')).toBe(json(nonEmpty(inputs)));
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
