import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MeshbusError, errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { ManifestIndex } from './manifest-index.js';
import type { ManifestProblem, MeshResources } from './resources.js';

/** The manifests folder does not exist, is not a folder, or cannot be listed. */
export class ManifestFolderError extends MeshbusError {
  override name = 'ManifestFolderError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ManifestFolderUnavailable', message, options);
  }
}

/** Options of {@link FolderSource}. */
export interface FolderSourceOptions {
  /** The folder to read. Every `.yaml` and `.yml` file below it is read; names starting with `.` are skipped. */
  directory: string;
  /**
   * Called with the valid resources and the current problems once the folder
   * has been read for the first time (before `start()` resolves), then after
   * every change of either. Never called after dispose.
   */
  onChange: (resources: MeshResources, problems: readonly ManifestProblem[]) => void;
  /** Quiet time after a file-system event before the folder is read again. @default 50 */
  debounceMs?: number;
  /** Interval of full re-reads that catch changes whose events were lost. @default 5000 */
  rescanIntervalMs?: number;
  /** @default a silent logger */
  logger?: Logger;
}

/** The result of reading a manifests folder once. */
export interface ManifestFolderSnapshot {
  readonly resources: MeshResources;
  readonly problems: readonly ManifestProblem[];
}

type FileRead = { readonly text: string } | { readonly error: string };

interface FolderListing {
  /** Relative path (with `/`) to absolute path, of every manifest file. */
  readonly files: ReadonlyMap<string, string>;
  /** Absolute path to inode, of the folder and every folder below it. */
  readonly directories: ReadonlyMap<string, number>;
}

/**
 * Mesh resources read from a local folder and kept current as files change.
 *
 * Each folder of the tree has its own watcher; any event leads, after
 * `debounceMs`, to a new read of the whole tree, of which only files whose
 * text changed reach the {@link ManifestIndex}. A periodic full read covers
 * lost events. If the folder disappears while running, the resources read
 * before stay until it is back.
 */
export class FolderSource implements AsyncDisposable {
  readonly #directory: string;
  readonly #onChange: FolderSourceOptions['onChange'];
  readonly #debounceMs: number;
  readonly #rescanIntervalMs: number;
  readonly #logger: Logger;
  readonly #index = new ManifestIndex();
  readonly #files = new Map<string, FileRead>();
  readonly #watchers = new Map<string, { watcher: FSWatcher; inode: number }>();
  #state: 'initialized' | 'starting' | 'started' | 'disposed' = 'initialized';
  #starting: Promise<void> | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #scanAgain = false;

  constructor(options: FolderSourceOptions) {
    this.#directory = path.resolve(options.directory);
    this.#onChange = options.onChange;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#rescanIntervalMs = options.rescanIntervalMs ?? 5000;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'manifests-folder' });
  }

  /** The valid resources read so far. */
  get resources(): MeshResources {
    return this.#index.resources;
  }

  /** The current problems. */
  get problems(): readonly ManifestProblem[] {
    return this.#index.problems;
  }

  /** Grows by one each time the valid resources change. */
  get version(): number {
    return this.#index.version;
  }

  /**
   * Reads the folder, starts watching it and calls `onChange` once. Rejects
   * with {@link ManifestFolderError} when the folder cannot be read.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#isDisposed()) throw new ManifestFolderError(`the source of manifests folder ${this.#directory} was disposed before it started`);
    this.#state = 'starting';
    await checkFolder(this.#directory);
    await this.#scanOnce({ initial: true });
    if (this.#isDisposed()) return;
    this.#state = 'started';
    this.#rescanTimer = setInterval(() => this.#requestScan(), this.#rescanIntervalMs);
    this.#logger.info({ directory: this.#directory, files: this.#files.size, problems: this.problems.length }, 'manifests folder read');
    this.#notify();
    if (this.#scanAgain) this.#requestScan();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'disposed') return;
    this.#state = 'disposed';
    clearTimeout(this.#debounceTimer);
    clearInterval(this.#rescanTimer);
    for (const { watcher } of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#starting?.catch(() => undefined);
    await this.#scanning;
  }

  #onEvent(): void {
    if (this.#state === 'disposed') return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#requestScan();
    }, this.#debounceMs);
  }

  #requestScan(): void {
    if (this.#state === 'disposed') return;
    if (this.#state !== 'started' || this.#scanning) {
      this.#scanAgain = true;
      return;
    }
    this.#scanning = this.#scanRepeatedly().finally(() => {
      this.#scanning = undefined;
    });
  }

  async #scanRepeatedly(): Promise<void> {
    do {
      this.#scanAgain = false;
      try {
        await this.#scanOnce({ initial: false });
      } catch (err) {
        this.#logger.error({ err }, 'reading the manifests folder failed');
      }
    } while (this.#scanAgain && this.#state === 'started');
  }

  async #scanOnce({ initial }: { initial: boolean }): Promise<void> {
    let listing: FolderListing;
    try {
      listing = await listFolder(this.#directory);
    } catch (err) {
      if (initial) throw new ManifestFolderError(`cannot list manifests folder ${this.#directory}: ${errorMessage(err)}`, { cause: err });
      this.#logger.warn({ err, directory: this.#directory }, 'cannot list the manifests folder; the resources read before stay');
      return;
    }
    if (this.#isDisposed()) return;
    this.#watch(listing.directories);

    const reads = await Promise.all(
      [...listing.files].map(async ([file, absolute]) => [file, await readManifest(absolute)] as const),
    );
    if (this.#isDisposed()) return;

    let changed = false;
    const present = new Set<string>();
    for (const [file, read] of reads) {
      if (read === undefined) continue;
      present.add(file);
      if (sameRead(this.#files.get(file), read)) continue;
      this.#files.set(file, read);
      const update = this.#index.apply({ file, ...read });
      changed ||= update.resourcesChanged || update.problemsChanged;
    }
    for (const file of [...this.#files.keys()]) {
      if (present.has(file)) continue;
      this.#files.delete(file);
      const update = this.#index.apply({ file, deleted: true });
      changed ||= update.resourcesChanged || update.problemsChanged;
    }
    if (changed && this.#state === 'started') {
      this.#logger.info({ version: this.version, problems: this.problems.length }, 'manifests changed');
      this.#notify();
    }
  }

  /** A method rather than a comparison, because dispose may run during any await. */
  #isDisposed(): boolean {
    return this.#state === 'disposed';
  }

  #notify(): void {
    try {
      this.#onChange(this.#index.resources, this.#index.problems);
    } catch (err) {
      this.#logger.error({ err }, 'manifests change handler failed');
    }
  }

  /** One non-recursive watcher per folder: unlike a recursive one, it sees edits to a file that replaced another by rename. */
  #watch(directories: ReadonlyMap<string, number>): void {
    for (const [directory, { watcher, inode }] of this.#watchers) {
      if (directories.get(directory) === inode) continue;
      watcher.close();
      this.#watchers.delete(directory);
    }
    for (const [directory, inode] of directories) {
      if (this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, () => this.#onEvent());
        watcher.on('error', (err) => {
          this.#logger.debug({ err, directory }, 'folder watcher stopped');
          watcher.close();
          if (this.#watchers.get(directory)?.watcher === watcher) this.#watchers.delete(directory);
          this.#onEvent();
        });
        this.#watchers.set(directory, { watcher, inode });
      } catch (err) {
        this.#logger.warn({ err, directory }, 'cannot watch folder; its changes are seen by the periodic rescan only');
      }
    }
  }
}

/**
 * Reads every manifest file of a folder once (no watching): for tools and
 * tests. Rejects with {@link ManifestFolderError} when the folder cannot be read.
 */
export async function loadManifestFolder(directory: string): Promise<ManifestFolderSnapshot> {
  const root = path.resolve(directory);
  await checkFolder(root);
  let listing: FolderListing;
  try {
    listing = await listFolder(root);
  } catch (err) {
    throw new ManifestFolderError(`cannot list manifests folder ${root}: ${errorMessage(err)}`, { cause: err });
  }
  const index = new ManifestIndex();
  for (const [file, absolute] of [...listing.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const read = await readManifest(absolute);
    if (read) index.apply({ file, ...read });
  }
  return { resources: index.resources, problems: index.problems };
}

async function checkFolder(directory: string): Promise<void> {
  let info;
  try {
    info = await stat(directory);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ManifestFolderError(`manifests folder ${directory} does not exist`, { cause: err });
    throw new ManifestFolderError(`cannot read manifests folder ${directory}: ${errorMessage(err)}`, { cause: err });
  }
  if (!info.isDirectory()) throw new ManifestFolderError(`manifests folder ${directory} is not a folder`);
}

const manifestExtensions = new Set(['.yaml', '.yml']);

/** Lists manifest files and folders below `root`, following symbolic links and skipping names that start with `.`. */
async function listFolder(root: string): Promise<FolderListing> {
  const files = new Map<string, string>();
  const directories = new Map<string, number>();
  const visited = new Set<string>();

  async function walk(directory: string, isRoot: boolean): Promise<void> {
    let entries;
    let inode: number;
    try {
      const info = await stat(directory);
      const id = `${info.dev}:${info.ino}`;
      if (visited.has(id)) return;
      visited.add(id);
      inode = info.ino;
      entries = await readdir(directory, { withFileTypes: true });
    } catch (err) {
      if (isRoot) throw err;
      return;
    }
    directories.set(directory, inode);
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const absolute = path.join(directory, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(absolute).catch(() => undefined);
        isDirectory = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDirectory) await walk(absolute, false);
      else if (isFile && manifestExtensions.has(path.extname(entry.name).toLowerCase())) {
        files.set(path.relative(root, absolute).split(path.sep).join('/'), absolute);
      }
    }
  }

  await walk(root, true);
  return { files, directories };
}

/** The file's text, or why it cannot be read; undefined when it is gone. */
async function readManifest(absolute: string): Promise<FileRead | undefined> {
  try {
    return { text: await readFile(absolute, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { error: errorMessage(err) };
  }
}

function sameRead(a: FileRead | undefined, b: FileRead): boolean {
  if (a === undefined) return false;
  return 'text' in a && 'text' in b ? a.text === b.text : 'error' in a && 'error' in b && a.error === b.error;
}
