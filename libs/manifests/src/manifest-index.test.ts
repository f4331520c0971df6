import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ManifestIndex } from './manifest-index.js';
import { listChanges } from './list-changes.js';
import type { MeshResource, MeshResources } from './resources.js';
import type { ManifestChange } from './resources.js';

/** A multi-document YAML text of the given resources. */
function yaml(...documents: unknown[]): string {
  return documents.map((d) => stringify(d)).join('---\n');
}

const service = (name: string, port = 80, namespace = 'shop') => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { selector: { app: name }, ports: [{ port }] },
});

const workload = (name: string, address: string, namespace = 'shop') => ({
  apiVersion: 'meshbus.io/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace, labels: { app: 'web' } },
  spec: { address },
});

const names = (index: ManifestIndex) => ({
  services: index.resources.services.map((s) => `${s.namespace}/${s.name}:${s.ports.map((p) => p.port).join(',')}`),
  workloads: index.resources.workloads.map((w) => `${w.namespace}/${w.name}@${w.address}`),
});

function indexWith(...changes: ManifestChange[]): ManifestIndex {
  const index = new ManifestIndex();
  for (const change of changes) index.apply(change);
  return index;
}

describe('ManifestIndex', () => {
  it('starts empty at version 0', () => {
    const index = new ManifestIndex();
    expect(index.version).toBe(0);
    expect(index.problems).toEqual([]);
    expect(names(index)).toEqual({ services: [], workloads: [] });
  });

  it('reads resources of every kind from multi-document files, sorted by namespace and name', () => {
    const index = indexWith(
      { file: 'b.yaml', text: yaml(service('web'), service('api'), workload('web-1', '127.0.0.1')) },
      { file: 'a.yml', text: yaml(service('web', 80, 'aaa'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }) },
    );
    expect(names(index)).toEqual({ services: ['aaa/web:80', 'shop/api:80', 'shop/web:80'], workloads: ['shop/web-1@127.0.0.1'] });
    expect(index.resources.namespaces.map((n) => n.name)).toEqual(['shop']);
    expect(index.problems).toEqual([]);
  });

  it('skips empty documents and comment-only files', () => {
    const index = indexWith({ file: 'a.yaml', text: `# nothing yet\n---\n---\n${yaml(service('web'))}---\n` }, { file: 'b.yaml', text: '# only a comment\n' });
    expect(names(index).services).toEqual(['shop/web:80']);
    expect(index.problems).toEqual([]);
  });

  describe('version', () => {
    it('changes only when the valid resources change', () => {
      const index = new ManifestIndex();
      expect(index.apply({ file: 'a.yaml', text: yaml(service('web')) })).toEqual({ resourcesChanged: true, problemsChanged: false });
      expect(index.version).toBe(1);
      const resources = index.resources;

      // Same content, other formatting: comments, key order, flow style.
      const reformatted = '# web\napiVersion: v1\nmetadata: {namespace: shop, name: web}\nkind: Service\nspec: {ports: [{port: 80}], selector: {app: web}}\n';
      expect(index.apply({ file: 'a.yaml', text: reformatted })).toEqual({ resourcesChanged: false, problemsChanged: false });
      expect(index.version).toBe(1);
      expect(index.resources).toBe(resources);

      expect(index.apply({ file: 'a.yaml', text: yaml(service('web', 81)) }).resourcesChanged).toBe(true);
      expect(index.version).toBe(2);
    });

    it('does not change when only problems change', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web')) });
      expect(index.apply({ file: 'b.yaml', text: 'a: [' })).toEqual({ resourcesChanged: false, problemsChanged: true });
      expect(index.version).toBe(1);
      expect(index.apply({ file: 'b.yaml', deleted: true })).toEqual({ resourcesChanged: false, problemsChanged: true });
    });

    it('does not change when a resource moves to another file', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web')) });
      index.apply({ file: 'b.yaml', text: yaml(service('web')) });
      index.apply({ file: 'a.yaml', deleted: true });
      expect(index.version).toBe(1);
      expect(index.problems).toEqual([]);
    });
  });

  describe('keeps what was valid', () => {
    it('keeps every resource of a file that stops parsing as YAML, until it is fixed', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web'), workload('web-1', '127.0.0.1')) });
      const update = index.apply({ file: 'a.yaml', text: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   namespace: shop\n' });
      expect(update).toEqual({ resourcesChanged: false, problemsChanged: true });
      expect(names(index)).toEqual({ services: ['shop/web:80'], workloads: ['shop/web-1@127.0.0.1'] });
      expect(index.problems).toEqual([
        { file: 'a.yaml', reason: expect.stringMatching(/^invalid YAML: .* at line 4, column 9; the 2 resources read earlier from this file stay in force$/) },
      ]);

      index.apply({ file: 'a.yaml', text: yaml(service('web', 8080)) });
      expect(names(index)).toEqual({ services: ['shop/web:8080'], workloads: [] });
      expect(index.problems).toEqual([]);
    });

    it('reports invalid YAML in a new file without resources to keep', () => {
      const index = indexWith({ file: 'a.yaml', text: 'a: 1\na: 2\n' });
      expect(index.problems).toEqual([{ file: 'a.yaml', reason: 'invalid YAML: Map keys must be unique at line 2, column 1' }]);
    });

    it('keeps the previous version of a resource that stops validating, and updates the others', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web'), workload('web-1', '127.0.0.1'), workload('web-2', '127.0.0.2')) });
      index.apply({ file: 'a.yaml', text: yaml(service('web', 81), workload('web-1', '127.0.0.300'), workload('web-3', '127.0.0.3')) });
      expect(names(index)).toEqual({
        services: ['shop/web:81'],
        workloads: ['shop/web-1@127.0.0.1', 'shop/web-3@127.0.0.3'],
      });
      expect(index.problems).toEqual([
        {
          file: 'a.yaml',
          kind: 'Workload',
          namespace: 'shop',
          name: 'web-1',
          reason: 'spec.address: "127.0.0.300" is not an IPv4 or IPv6 address; the previous valid version stays in force',
        },
      ]);
      expect(index.version).toBe(2);
    });

    it('keeps the last valid version through several bad edits', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(workload('web-1', '127.0.0.1')) });
      index.apply({ file: 'a.yaml', text: yaml(workload('web-1', 'x')) });
      index.apply({ file: 'a.yaml', text: 'not: [yaml' });
      index.apply({ file: 'a.yaml', text: yaml(workload('web-1', 'y')) });
      expect(names(index).workloads).toEqual(['shop/web-1@127.0.0.1']);
      expect(index.version).toBe(1);
    });

    it('does not keep an invalid resource that was never valid', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(workload('web-1', 'x')) });
      expect(names(index).workloads).toEqual([]);
      expect(index.problems).toEqual([{ file: 'a.yaml', kind: 'Workload', namespace: 'shop', name: 'web-1', reason: 'spec.address: "x" is not an IPv4 or IPv6 address' }]);
    });

    it('does not take a previous version from another file', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(workload('web-1', '127.0.0.1')) }, { file: 'a.yaml', deleted: true });
      index.apply({ file: 'b.yaml', text: yaml(workload('web-1', 'x')) });
      expect(names(index).workloads).toEqual([]);
    });

    it('keeps every resource of a file with a document it cannot identify', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web'), service('api'), workload('web-1', '127.0.0.1')) });
      // `kind` misspelt: the document might be the Service api; api stays, web updates.
      const text = yaml(service('web', 81), { ...service('api'), kind: 'Servce' });
      expect(index.apply({ file: 'a.yaml', text }).resourcesChanged).toBe(true);
      expect(names(index)).toEqual({ services: ['shop/api:80', 'shop/web:81'], workloads: ['shop/web-1@127.0.0.1'] });
      expect(index.problems).toEqual([
        { file: 'a.yaml', kind: 'Servce', namespace: 'shop', name: 'api', reason: 'document 2: unknown kind: v1 Servce' },
        { file: 'a.yaml', reason: '2 resources read earlier from this file stay in force until every document in it can be identified' },
      ]);

      index.apply({ file: 'a.yaml', text: yaml(service('web', 81)) });
      expect(names(index)).toEqual({ services: ['shop/web:81'], workloads: [] });
      expect(index.problems).toEqual([]);
    });

    it('keeps the resources of a file that cannot be read', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web')) });
      expect(index.apply({ file: 'a.yaml', error: 'EACCES: permission denied' })).toEqual({ resourcesChanged: false, problemsChanged: true });
      expect(names(index).services).toEqual(['shop/web:80']);
      expect(index.problems).toEqual([
        { file: 'a.yaml', reason: 'cannot be read: EACCES: permission denied; the 1 resource read earlier from this file stay in force' },
      ]);
    });
  });

  it('removes the resources of a deleted file and its problems', () => {
    const index = indexWith({ file: 'a.yaml', text: yaml(service('web')) }, { file: 'b.yaml', text: `${yaml(service('api'))}---\n- x\n` });
    expect(index.problems).toHaveLength(1);
    index.apply({ file: 'b.yaml', deleted: true });
    expect(names(index).services).toEqual(['shop/web:80']);
    expect(index.problems).toEqual([]);
    index.apply({ file: 'a.yaml', deleted: true });
    expect(names(index).services).toEqual([]);
    expect(index.version).toBe(4);
  });

  it('ignores the deletion of a file it never saw', () => {
    expect(new ManifestIndex().apply({ file: 'x.yaml', deleted: true })).toEqual({ resourcesChanged: false, problemsChanged: false });
  });

  it('removes a resource that is no longer in its file', () => {
    const index = indexWith({ file: 'a.yaml', text: yaml(service('web'), service('api')) });
    index.apply({ file: 'a.yaml', text: yaml(service('web')) });
    expect(names(index).services).toEqual(['shop/web:80']);
  });

  describe('duplicates', () => {
    it('uses the definition of the first file in path order and reports the other', () => {
      const index = indexWith({ file: 'z/web.yaml', text: yaml(service('web', 81)) }, { file: 'a/web.yaml', text: yaml(service('web', 80)) });
      expect(names(index).services).toEqual(['shop/web:80']);
      expect(index.problems).toEqual([
        {
          file: 'z/web.yaml',
          kind: 'Service',
          namespace: 'shop',
          name: 'web',
          reason: 'is also defined in a/web.yaml, which comes first in path order; this definition is ignored',
        },
      ]);

      index.apply({ file: 'a/web.yaml', deleted: true });
      expect(names(index).services).toEqual(['shop/web:81']);
      expect(index.problems).toEqual([]);
    });

    it('uses the first definition within a file', () => {
      const index = indexWith({ file: 'a.yaml', text: yaml(service('web', 80), service('web', 81)) });
      expect(names(index).services).toEqual(['shop/web:80']);
      expect(index.problems).toEqual([
        { file: 'a.yaml', kind: 'Service', namespace: 'shop', name: 'web', reason: 'is defined twice in this file; the first definition is used' },
      ]);
    });

    it('tells resources apart by kind and namespace', () => {
      const index = indexWith({
        file: 'a.yaml',
        text: yaml(service('web'), service('web', 80, 'other'), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'shop' } }),
      });
      expect(index.problems).toEqual([]);
      expect(names(index).services).toHaveLength(2);
      expect(index.resources.serviceAccounts).toHaveLength(1);
    });
  });

  it('reads policy resources with the file they come from, and refuses other kinds', () => {
    const index = indexWith({
      file: 'policy.yaml',
      text: yaml(
        { apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'web-http', namespace: 'shop' }, spec: { port: 'http', podSelector: { matchLabels: { app: 'web' } } } },
        { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'shop' }, spec: { parentRefs: [{ kind: 'Service', name: 'web' }] } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } },
      ),
    });
    expect(index.resources.servers.map((r) => `${r.apiVersion} ${r.namespace}/${r.name} ${r.file}`)).toEqual(['policy.linkerd.io/v1beta3 shop/web-http policy.yaml']);
    expect(index.resources.httpRoutes.map((r) => `${r.apiVersion} ${r.namespace}/${r.name} ${r.file}`)).toEqual(['gateway.networking.k8s.io/v1 shop/web policy.yaml']);
    expect(index.resources.others).toEqual([]);
    expect(index.problems).toEqual([{ file: 'policy.yaml', kind: 'Deployment', namespace: 'shop', name: 'web', reason: 'document 3: unknown kind: apps/v1 Deployment' }]);
  });

  it('changes the resources when a policy resource moves to another file unchanged', () => {
    const server = yaml({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'web-http', namespace: 'shop' }, spec: { port: 80, podSelector: {} } });
    const index = indexWith({ file: 'b.yaml', text: server });
    const version = index.version;
    index.applyAll([{ file: 'a.yaml', text: server }, { file: 'b.yaml', deleted: true }]);
    expect(index.version).not.toBe(version);
    expect(index.resources.servers.map((s) => s.file)).toEqual(['a.yaml']);
  });

  it('keeps the previous valid version of a policy resource, with its file, when it turns invalid', () => {
    const server = (port: unknown) => yaml({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'web-http', namespace: 'shop' }, spec: { port, podSelector: {} } });
    const index = indexWith({ file: 'p.yaml', text: server(80) });
    index.apply({ file: 'p.yaml', text: server('Not_A_Port') });
    expect(index.resources.servers.map((s) => [s.port, s.file])).toEqual([[80, 'p.yaml']]);
    expect(index.problems).toEqual([
      {
        file: 'p.yaml',
        kind: 'Server',
        namespace: 'shop',
        name: 'web-http',
        reason: `spec.port: "Not_A_Port" is neither a port number nor a port name (at most 15 lowercase letters, digits and '-', with at least one letter); the previous valid version stays in force`,
      },
    ]);
  });

  it('refuses YAML alias bombs', () => {
    // Each line refers ten times to the previous one: 10^12 nodes once expanded.
    const letters = 'abcdefghijklm';
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < letters.length; i += 1) lines.push(`${letters[i]}: &${letters[i]} [${Array(10).fill(`*${letters[i - 1]}`).join(', ')}]`);
    const index = indexWith({ file: 'bomb.yaml', text: lines.join('\n') });
    expect(index.problems).toEqual([{ file: 'bomb.yaml', reason: expect.stringMatching(/^invalid YAML: .*alias/i) }]);
  });

  it('lists problems by file path, then in document order', () => {
    const index = indexWith(
      { file: 'b.yaml', text: yaml(workload('w2', 'x'), workload('w1', 'y')) },
      { file: 'a.yaml', text: 'x: [' },
    );
    expect(index.problems.map((p) => `${p.file} ${p.name ?? ''}`)).toEqual(['a.yaml ', 'b.yaml w2', 'b.yaml w1']);
  });
});

describe('ManifestIndex golden files', () => {
  const testdata = new URL('./testdata/', import.meta.url);
  const read = (name: string) => readFileSync(new URL(name, testdata), 'utf8');

  it('reads every kind and field (valid.yaml)', async () => {
    const index = indexWith({ file: 'valid.yaml', text: read('valid.yaml') });
    expect(index.problems).toEqual([]);
    await expect(`${JSON.stringify(index.resources, null, 2)}\n`).toMatchFileSnapshot('./testdata/valid.golden.json');
  });

  it('explains every problem (problems.yaml)', async () => {
    const index = indexWith({ file: 'problems.yaml', text: read('problems.yaml') });
    await expect(`${JSON.stringify(index.problems, null, 2)}\n`).toMatchFileSnapshot('./testdata/problems.golden.json');
  });
});

/** Each list that changed tells how it was made from the one before it, exactly. */
function expectListChanges(before: MeshResources, after: MeshResources, where: string): void {
  for (const collection of Object.keys(after) as (keyof MeshResources)[]) {
    const previous = before[collection] as readonly MeshResource[];
    const list = after[collection] as readonly MeshResource[];
    if (list === previous) continue;
    const changes = listChanges(list);
    expect(changes?.previous, `${where}: ${collection}`).toBe(previous);
    const expected = new Set<MeshResource>(previous);
    for (const r of changes!.removed) {
      expect(expected.has(r), `${where}: ${collection} removed`).toBe(true);
      expected.delete(r);
    }
    for (const r of changes!.added) {
      expect(expected.has(r), `${where}: ${collection} added`).toBe(false);
      expected.add(r);
    }
    expect(new Set(list), `${where}: ${collection}`).toEqual(expected);
    expect(list.length, `${where}: ${collection}`).toBe(expected.size);
  }
  // Only the newest step is kept, so that old lists can be collected.
  for (const collection of Object.keys(before) as (keyof MeshResources)[]) {
    if (after[collection] !== before[collection]) expect(listChanges(before[collection] as readonly MeshResource[])).toBeUndefined();
  }
}

describe('ManifestIndex, change by change', () => {
  /** A small deterministic generator (mulberry32). */
  function random(seed: number) {
    let a = seed >>> 0;
    return (n: number) => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
    };
  }
  const doc = (int: (n: number) => number) => {
    const name = `s${int(6)}`;
    switch (int(5)) {
      case 0:
        return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: shop }\nspec: { ports: [{ port: ${80 + int(3)} }] }\n`;
      case 1:
        return `apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, namespace: shop }\nspec: { address: 10.0.0.${1 + int(3)}, ports: [{ port: 8080 }] }\n`;
      case 2:
        return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: shop }\nspec: { ports: [{ port: 99999 }] }\n`;
      case 3:
        return `kind: [`;
      default:
        return `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name} }\n`;
    }
  };

  it('ends with the same resources and problems as an index fed the same files from scratch', () => {
    let compared = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const int = random(seed);
      const files = new Map<string, { text: string } | { error: string }>();
      const index = new ManifestIndex();
      for (let step = 0; step < 30; step++) {
        const file = `f${int(5)}.yaml`;
        const changes: ManifestChange[] = [];
        if (files.has(file) && int(4) === 0) {
          files.delete(file);
          changes.push({ file, deleted: true });
        } else if (int(8) === 0) {
          files.set(file, { error: 'EACCES' });
          changes.push({ file, error: 'EACCES' });
        } else {
          const text = Array.from({ length: 1 + int(3) }, () => doc(int)).join('---\n');
          files.set(file, { text });
          changes.push({ file, text });
        }
        const before = index.resources;
        index.applyAll(changes);
        expectListChanges(before, index.resources, `seed ${seed} step ${step}`);
        // What stays in force after a bad change depends on history; compare only when nothing is kept that way.
        const fresh = new ManifestIndex();
        fresh.applyAll([...files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([f, content]) => ({ file: f, ...content })));
        const keptOnly = index.problems.some((p) => /stay in force|previous valid version/.test(p.reason));
        if (!keptOnly) {
          expect(index.resources, `seed ${seed} step ${step}`).toEqual(fresh.resources);
          expect(index.problems, `seed ${seed} step ${step}`).toEqual(fresh.problems);
          compared += 1;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
  }, 60_000);
});
