import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderSource, ManifestFolderError, loadManifestFolder } from './folder-source.js';
import type { ManifestProblem, MeshResources } from './resources.js';

const service = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
spec:
  selector: { app: ${name} }
  ports: [{ port: ${port} }]
`;

interface Change {
  resources: MeshResources;
  problems: readonly ManifestProblem[];
}

/** Records every onChange call and waits for the next ones. */
class ChangeLog {
  readonly changes: Change[] = [];
  #seen = 0;

  readonly onChange = (resources: MeshResources, problems: readonly ManifestProblem[]) => {
    this.changes.push({ resources, problems });
  };

  /** The next change after those already taken, within `timeoutMs`. */
  async next(timeoutMs = 1000): Promise<Change> {
    const deadline = Date.now() + timeoutMs;
    while (this.changes.length <= this.#seen) {
      if (Date.now() > deadline) throw new Error(`no change within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.changes[this.#seen++]!;
  }

  /** Takes changes until one satisfies `accept`, within `timeoutMs` in all. */
  async until(accept: (change: Change) => boolean, timeoutMs = 1000): Promise<Change> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const change = await this.next(Math.max(1, deadline - Date.now()));
      if (accept(change)) return change;
    }
  }
}

const servicePorts = (c: Change) => c.resources.services.map((s) => `${s.name}:${s.ports[0]?.port}`);

describe('FolderSource', () => {
  let dir: string;
  let source: FolderSource | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-manifests-'));
  });

  afterEach(async () => {
    await source?.[Symbol.asyncDispose]();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('follows files as they are created, edited, broken, fixed and deleted', async () => {
    await writeFile(path.join(dir, 'web.yaml'), service('web', 80));
    await writeFile(path.join(dir, 'notes.txt'), 'not a manifest');
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange });
    await source.start();
    expect(servicePorts(await log.next(0))).toEqual(['web:80']);
    expect(source.version).toBe(1);

    // Created, in a new sub-folder.
    await mkdir(path.join(dir, 'api'));
    await writeFile(path.join(dir, 'api', 'service.yml'), service('api', 8080));
    expect(servicePorts(await log.until((c) => c.resources.services.length === 2))).toEqual(['api:8080', 'web:80']);

    // Edited in place.
    await writeFile(path.join(dir, 'web.yaml'), service('web', 81));
    expect(servicePorts(await log.next())).toEqual(['api:8080', 'web:81']);

    // Edited the way many editors save: write a temporary file, rename it over the old one.
    await writeFile(path.join(dir, '.web.yaml.swp'), service('web', 82));
    await rename(path.join(dir, '.web.yaml.swp'), path.join(dir, 'web.yaml'));
    expect(servicePorts(await log.next())).toEqual(['api:8080', 'web:82']);

    // Edited in place again: the watch must follow the file that replaced the old one.
    await writeFile(path.join(dir, 'web.yaml'), service('web', 83));
    expect(servicePorts(await log.next())).toEqual(['api:8080', 'web:83']);

    // Broken: the last valid resources stay, with a problem.
    const versionBeforeBreak = source.version;
    await writeFile(path.join(dir, 'web.yaml'), 'apiVersion: v1\nkind: [Service\n');
    const broken = await log.next();
    expect(servicePorts(broken)).toEqual(['api:8080', 'web:83']);
    expect(broken.problems).toEqual([{ file: 'web.yaml', reason: expect.stringMatching(/^invalid YAML: .*stay in force$/) }]);
    expect(source.version).toBe(versionBeforeBreak);

    // Fixed.
    await writeFile(path.join(dir, 'web.yaml'), service('web', 84));
    const fixed = await log.next();
    expect(servicePorts(fixed)).toEqual(['api:8080', 'web:84']);
    expect(fixed.problems).toEqual([]);

    // Deleted, then a whole folder deleted.
    await rm(path.join(dir, 'web.yaml'));
    expect(servicePorts(await log.next())).toEqual(['api:8080']);
    await rm(path.join(dir, 'api'), { recursive: true });
    expect(servicePorts(await log.next())).toEqual([]);

    // Nothing else happened, and nothing happens after dispose.
    await new Promise((r) => setTimeout(r, 200));
    expect(log.changes.length).toBe(9);
    await source[Symbol.asyncDispose]();
    await writeFile(path.join(dir, 'late.yaml'), service('late', 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(log.changes.length).toBe(9);
  });

  it.each<[string, (file: string) => Promise<void>, RegExp]>([
    [
      'a symbolic link loop',
      async (file) => {
        await symlink(file, `${file}.other`);
        await rm(file);
        await symlink(`${file}.other`, file);
      },
      /symbolic link that cannot be followed/,
    ],
    [
      'a folder',
      async (file) => {
        await rm(file);
        await mkdir(file);
      },
      /is a folder, not a file/,
    ],
    [
      'a FIFO',
      async (file) => {
        await rm(file);
        execFileSync('mkfifo', [file]);
      },
      /is a FIFO/,
    ],
  ])('keeps the resources of a file that turns into %s, and reports it', async (_what, breakIt, reason) => {
    const file = path.join(dir, 'web.yaml');
    await writeFile(file, service('web', 80));
    await writeFile(path.join(dir, 'api.yaml'), service('api', 80));
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange, quietMs: 50 });
    await source.start();
    expect(servicePorts(await log.next(0))).toEqual(['api:80', 'web:80']);

    await breakIt(file);
    const broken = await log.next(2000);
    expect(servicePorts(broken)).toEqual(['api:80', 'web:80']);
    expect(broken.problems).toEqual([{ file: 'web.yaml', reason: expect.stringMatching(reason) }]);
    expect(broken.problems[0]!.reason).toMatch(/the 1 resource read earlier from this file stay in force$/);

    // Other files keep being followed, and repairing the file clears the problem.
    await writeFile(path.join(dir, 'api.yaml'), service('api', 81));
    expect(servicePorts(await log.next(2000))).toEqual(['api:81', 'web:80']);
    await rm(file, { recursive: true });
    await writeFile(file, service('web', 82));
    const fixed = await log.until((c) => c.problems.length === 0 && servicePorts(c).includes('web:82'), 2000);
    expect(servicePorts(fixed)).toEqual(['api:81', 'web:82']);
  });

  it('does not read a file whose write pauses halfway before the quiet period is over', async () => {
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange, quietMs: 300 });
    await source.start();
    await log.next(0);
    const whole = service('web', 80) + `---\n${service('api', 8080)}`;
    const half = whole.slice(0, whole.indexOf('namespace: shop', whole.indexOf('api')));
    await writeFile(path.join(dir, 'web.yaml'), half);
    await new Promise((r) => setTimeout(r, 150));
    await appendFile(path.join(dir, 'web.yaml'), whole.slice(half.length));
    const change = await log.next(2000);
    expect(servicePorts(change)).toEqual(['api:8080', 'web:80']);
    expect(change.problems).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    expect(log.changes.length).toBe(2);
  });

  it('calls onChange once at start, even for an empty folder', async () => {
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange });
    await source.start();
    const first = await log.next(0);
    expect(first.resources.services).toEqual([]);
    expect(first.problems).toEqual([]);
  });

  it('reports problems with paths relative to the folder, and skips hidden files and folders', async () => {
    await mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    await mkdir(path.join(dir, '.git'));
    await writeFile(path.join(dir, 'a', 'b', 'bad.yaml'), 'kind: [');
    await writeFile(path.join(dir, '.git', 'x.yaml'), 'kind: [');
    await writeFile(path.join(dir, '.hidden.yaml'), 'kind: [');
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange });
    await source.start();
    expect((await log.next(0)).problems.map((p) => p.file)).toEqual(['a/b/bad.yaml']);
  });

  it('follows symbolic links, as in a mounted Kubernetes ConfigMap', async () => {
    const data = path.join(dir, '..2026_01_01');
    await mkdir(data);
    await writeFile(path.join(data, 'web.yaml'), service('web', 80));
    await symlink(data, path.join(dir, '..data'));
    await symlink(path.join('..data', 'web.yaml'), path.join(dir, 'web.yaml'));
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange });
    await source.start();
    expect(servicePorts(await log.next(0))).toEqual(['web:80']);

    // An update swaps the `..data` link to a new folder.
    const next = path.join(dir, '..2026_01_02');
    await mkdir(next);
    await writeFile(path.join(next, 'web.yaml'), service('web', 81));
    await symlink(next, path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    expect(servicePorts(await log.next())).toEqual(['web:81']);
  });

  it('catches up through the periodic rescan', async () => {
    const log = new ChangeLog();
    // A debounce longer than the rescan interval: only the rescan can see the change in time.
    source = new FolderSource({ directory: dir, onChange: log.onChange, debounceMs: 10_000, rescanIntervalMs: 100 });
    await source.start();
    await log.next(0);
    await writeFile(path.join(dir, 'web.yaml'), service('web', 80));
    expect(servicePorts(await log.next())).toEqual(['web:80']);
  });

  it('keeps what it read when the folder disappears', async () => {
    await writeFile(path.join(dir, 'web.yaml'), service('web', 80));
    const log = new ChangeLog();
    source = new FolderSource({ directory: dir, onChange: log.onChange, rescanIntervalMs: 100 });
    await source.start();
    await log.next(0);
    await rm(dir, { recursive: true });
    await new Promise((r) => setTimeout(r, 400));
    expect(log.changes.length).toBe(1);
    expect(source.resources.services.map((s) => s.name)).toEqual(['web']);

    await mkdir(dir);
    await writeFile(path.join(dir, 'api.yaml'), service('api', 80));
    expect(servicePorts(await log.next())).toEqual(['api:80']);
  });

  it('refuses a folder that does not exist or is a file', async () => {
    const missing = new FolderSource({ directory: path.join(dir, 'missing'), onChange: () => {} });
    await expect(missing.start()).rejects.toThrow(ManifestFolderError);
    await expect(missing.start()).rejects.toThrow(/manifests folder .*missing does not exist/);
    await missing[Symbol.asyncDispose]();

    await writeFile(path.join(dir, 'file.yaml'), '');
    const file = new FolderSource({ directory: path.join(dir, 'file.yaml'), onChange: () => {} });
    await expect(file.start()).rejects.toMatchObject({ name: 'ManifestFolderError', code: 'ManifestFolderUnavailable', message: expect.stringMatching(/is not a folder/) });
    await file[Symbol.asyncDispose]();
  });

  it('does not start once disposed', async () => {
    const disposed = new FolderSource({ directory: dir, onChange: () => {} });
    await disposed[Symbol.asyncDispose]();
    await expect(disposed.start()).rejects.toThrow(/disposed before it started/);
  });
});

describe('loadManifestFolder', () => {
  it('reads the example manifests without problems', async () => {
    const { resources, problems } = await loadManifestFolder(new URL('../../../examples/manifests/', import.meta.url).pathname);
    expect(problems).toEqual([]);
    expect(resources.services.map((s) => `${s.namespace}/${s.name}`)).toEqual(['shop/api', 'shop/db', 'shop/web']);
    expect(resources.workloads.length).toBeGreaterThanOrEqual(4);
    expect(resources.serviceProfiles.map((p) => p.name)).toEqual(['api.shop.svc.cluster.local']);
  });

  it('refuses a folder that does not exist', async () => {
    await expect(loadManifestFolder('/nonexistent/meshbus')).rejects.toThrow(ManifestFolderError);
  });
});
