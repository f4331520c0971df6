import { describe, expect, it } from 'vitest';
import { applyPatch, mergePatch, PatchError, patchTypeOf, strategicMergePatch } from './fake-kube-patch.js';

describe('PATCH bodies', () => {
  it('merge patches as RFC 7386 says', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, d: [1, 2] }, { a: { b: null, e: 3 }, d: [3] })).toEqual({ a: { c: 2, e: 3 }, d: [3] });
    expect(mergePatch({ a: 1 }, { a: { b: 2 } })).toEqual({ a: { b: 2 } });
  });

  it('reads the patch type from Content-Type', () => {
    expect(patchTypeOf('application/merge-patch+json')).toBe('merge');
    expect(patchTypeOf('application/strategic-merge-patch+json; charset=utf-8')).toBe('strategic');
    expect(patchTypeOf('application/json-patch+json')).toBe('json');
    expect(patchTypeOf('application/apply-patch+yaml')).toBe('apply');
    expect(() => patchTypeOf('application/json')).toThrow(PatchError);
  });

  it('applies JSON patches, server-side apply as a merge, and refuses bad ones with the right code', () => {
    const target = { metadata: { name: 'x' }, spec: { list: [1, 2] } };
    expect(applyPatch(target, 'json', JSON.stringify([{ op: 'add', path: '/spec/list/-', value: 3 }]))).toEqual({ metadata: { name: 'x' }, spec: { list: [1, 2, 3] } });
    expect(target.spec.list).toEqual([1, 2]);
    expect(applyPatch(target, 'apply', 'spec:\n  size: 2\n')).toEqual({ metadata: { name: 'x' }, spec: { list: [1, 2], size: 2 } });
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as PatchError).status;
      }
      return undefined;
    };
    expect(code(() => applyPatch(target, 'json', '[{"op":"test","path":"/spec/list/0","value":9}]'))).toBe(422);
    expect(code(() => applyPatch(target, 'json', '{"op":"add"}'))).toBe(400);
    expect(code(() => applyPatch(target, 'merge', '[1]'))).toBe(400);
    expect(code(() => applyPatch(target, 'merge', '{'))).toBe(400);
  });

  it('merges keyed lists of strategic merge patches and obeys their directives', () => {
    const deployment = {
      metadata: { finalizers: ['a'] },
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'nginx', ports: [{ containerPort: 80, name: 'http' }] },
              { name: 'side', image: 'busybox' },
            ],
            tolerations: [{ key: 'x' }],
          },
        },
      },
    };
    const patch = {
      metadata: { finalizers: ['b'] },
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }],
            containers: [{ name: 'web', image: 'nginx:2', ports: [{ containerPort: 80, protocol: 'TCP' }] }, { name: 'side', $patch: 'delete' }, { name: 'new', image: 'x' }],
            tolerations: [{ key: 'y' }],
          },
        },
      },
    };
    expect(strategicMergePatch(deployment, patch)).toEqual({
      metadata: { finalizers: ['a', 'b'] },
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'nginx:2', ports: [{ containerPort: 80, name: 'http', protocol: 'TCP' }] },
              { name: 'new', image: 'x' },
            ],
            tolerations: [{ key: 'y' }],
          },
        },
      },
    });
    expect(strategicMergePatch({ spec: { a: 1, b: 2 } }, { spec: { $retainKeys: ['a', 'c'], c: 3 } })).toEqual({ spec: { a: 1, c: 3 } });
    expect(strategicMergePatch({ spec: { a: 1 } }, { spec: { $patch: 'replace', b: 2 } })).toEqual({ spec: { b: 2 } });
    expect(strategicMergePatch({ metadata: { finalizers: ['a', 'b'] } }, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } })).toEqual({ metadata: { finalizers: ['b'] } });
  });
});
