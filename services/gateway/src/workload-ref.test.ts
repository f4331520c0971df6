import { describe, expect, it } from 'vitest';
import { parseWorkloadRef, WorkloadRefError } from './workload-ref.js';

const refused = (text: string): string => {
  try {
    parseWorkloadRef(text);
  } catch (err) {
    expect(err).toBeInstanceOf(WorkloadRefError);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
};

describe('parseWorkloadRef', () => {
  it('reads the Linkerd JSON form, the local JSON form and the short form', () => {
    expect(parseWorkloadRef('{"ns":"shop","pod":"web-1"}')).toEqual({ namespace: 'shop', name: 'web-1' });
    expect(parseWorkloadRef('{"ns":"shop","name":"web-1"}')).toEqual({ namespace: 'shop', name: 'web-1' });
    expect(parseWorkloadRef(' {"pod":"web-1.a","ns":"shop"}')).toEqual({ namespace: 'shop', name: 'web-1.a' });
    expect(parseWorkloadRef('shop:web-1')).toEqual({ namespace: 'shop', name: 'web-1' });
  });

  it('says what is wrong and which forms are accepted', () => {
    expect(refused('')).toBe('workload is empty; use {"ns":"<namespace>","pod":"<pod>"}, {"ns":"<namespace>","name":"<workload>"} or <namespace>:<workload>');
    expect(refused('web-1')).toContain('"web-1" names no namespace; use {"ns"');
    expect(refused('{"ns":"shop"')).toContain('is not valid JSON');
    expect(refused('["shop","web"]')).toContain('is not a JSON object');
    expect(refused('{"ns":"shop"}')).toContain('needs "pod" or "name" as a string');
    expect(refused('{"pod":"web"}')).toContain('needs "ns" as a string');
    expect(refused('{"ns":"shop","pod":"a","name":"b"}')).toContain('has both "pod" and "name"');
    expect(refused('{"ns":"shop","pod":"a","uid":"x"}')).toContain('unknown field "uid"');
    expect(refused('{"ns":"shop","pod":7}')).toContain('needs "pod" or "name" as a string');
    expect(refused('Shop:web')).toContain('namespace "Shop" is not a DNS label');
    expect(refused('shop:')).toContain('name "" is not a DNS name');
    expect(refused('shop:web:1')).toContain('name "web:1" is not a DNS name');
    expect(refused(`shop:${'a'.repeat(254)}`)).toContain('is not a DNS name');
    expect(refused('x'.repeat(1025))).toContain('1025 characters long');
  });
});
