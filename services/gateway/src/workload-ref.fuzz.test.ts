import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { MeshbusError } from '@meshbus/runtime';
import { fuzzProperty } from '@meshbus/property-testing';
import { parseWorkloadRef, WorkloadRefError } from './workload-ref.js';

const namespace = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const name = fc.stringMatching(/^[a-z0-9]([-.a-z0-9]{0,40}[a-z0-9])?$/);
const tricky = fc.constantFrom('', ':', '{', '}', '"', '\\', '\u0000', ' ', 'İ', '\u212A', 'null', '[]', '{}', '{"ns":1}', '__proto__');
/** Near-valid workloads: JSON objects with odd fields and values, short forms with odd pieces. */
const near = fc.oneof(
  fc.tuple(fc.oneof(namespace, tricky, fc.string({ maxLength: 6 })), fc.oneof(name, tricky, fc.string({ maxLength: 6 }))).map(([ns, n]) => `${ns}:${n}`),
  fc.dictionary(fc.constantFrom('ns', 'pod', 'name', 'uid', '__proto__'), fc.oneof(namespace, name, tricky, fc.integer() as fc.Arbitrary<unknown>, fc.constant(null))).map((o) => JSON.stringify(o)),
);

describe('parseWorkloadRef', () => {
  fuzzProperty('gives a namespace and a name that are DNS names, or WorkloadRefError', [fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 30 }), near)], (text) => {
    let ref;
    try {
      ref = parseWorkloadRef(text);
    } catch (error) {
      expect(error).toBeInstanceOf(WorkloadRefError);
      expect(error).toBeInstanceOf(MeshbusError);
      expect((error as WorkloadRefError).code).toBe('InvalidWorkload');
      expect((error as Error).message).toMatch(/\S/);
      return;
    }
    expect(ref.namespace).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(ref.name).toMatch(/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/);
    expect(Object.keys(ref).sort()).toEqual(['name', 'namespace']);
  }, { runs: 1000 });

  fuzzProperty('reads back every form of a valid workload', [namespace, name], (ns, n) => {
    expect(parseWorkloadRef(`${ns}:${n}`)).toEqual({ namespace: ns, name: n });
    expect(parseWorkloadRef(JSON.stringify({ ns, pod: n }))).toEqual({ namespace: ns, name: n });
    expect(parseWorkloadRef(JSON.stringify({ name: n, ns }))).toEqual({ namespace: ns, name: n });
  }, { runs: 300 });
});
