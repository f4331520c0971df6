import { describe, expect, it } from 'vitest';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './fake-kube-selectors.js';
import type { FakeKubeObject } from './fake-kube-object.js';

const object = (name: string, labels?: Record<string, string>): FakeKubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', ...(labels ? { labels } : {}) } });
const objects = [object('a', { tier: 'web', env: 'prod' }), object('b', { tier: 'db' }), object('c')];
const pick = (selector: string) => objects.filter(parseLabelSelector(selector)).map((o) => o.metadata.name);

describe('label selectors', () => {
  it('select by equality, existence and sets', () => {
    expect(pick('tier=web')).toEqual(['a']);
    expect(pick('tier==db')).toEqual(['b']);
    expect(pick('tier!=web')).toEqual(['b', 'c']);
    expect(pick('tier')).toEqual(['a', 'b']);
    expect(pick('!tier')).toEqual(['c']);
    expect(pick('tier in (web, db)')).toEqual(['a', 'b']);
    expect(pick('tier notin (web)')).toEqual(['b', 'c']);
    expect(pick('tier in (web,db),env')).toEqual(['a']);
    expect(pick('')).toEqual(['a', 'b', 'c']);
  });

  it('refuse what they cannot read', () => {
    for (const bad of ['tier in web', '!tier=web', 'tier=(x)', 'tier in (a b)']) expect(() => parseLabelSelector(bad)).toThrow(SelectorError);
  });
});

describe('field selectors', () => {
  it('select by name and namespace only', () => {
    expect(objects.filter(parseFieldSelector('metadata.name=b')).map((o) => o.metadata.name)).toEqual(['b']);
    expect(objects.filter(parseFieldSelector('metadata.namespace!=shop'))).toEqual([]);
    expect(() => parseFieldSelector('spec.nodeName=x')).toThrow(/field label not supported: spec.nodeName/);
    expect(() => parseFieldSelector('metadata.name')).toThrow(SelectorError);
  });
});
