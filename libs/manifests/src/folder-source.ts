import { watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MeshbusError, errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { ManifestIndex, type ParsedManifestChange } from './manifest-index.js';
import { ManifestParser } from './manifest-parser.js';
import type { ManifestChange, ManifestProblem, MeshResources } from './resources.js';

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
  /**
   * A file is read only once it has not changed for this long, so that a
   * write that pauses halfway is not taken for the whole file. @default 250
   */
  quietMs?: number;
  /** Files at least this long (in characters) are parsed on a worker thread. @default 65536 */
  workerThreshold?: number;
  /** @default a silent logger */
  logger?: Logger;
}

/** The result of reading a manifests folder once. */
export interface ManifestFolderSnapshot {
  readonly resources: MeshResources;
  readonly problems: readonly ManifestProblem[];
}

/** What was last taken from a file: its stamp (inode, size, times) or why it cannot be read. */
type FileRead = { readonly stamp: string } | { readonly error: string };

/** A manifest path found in the folder: a regular file, or something in its place that cannot be read. */
interface ListedFile {
  readonly absolute: string;
  /** Set when the path is not a readable regular file (a symbolic link loop, a folder, a FIFO). */
  readonly unreadable?: string;
}

interface FolderListing {
  /** Relative path (with `/`) of every manifest file. */
  readonly files: ReadonlyMap<string, ListedFile>;
  /** Absolute path to inode, of the folder and every folder below it. */
  readonly directories: ReadonlyMap<string, number>;
}

/**
 * Mesh resources read from a local folder and kept current as files change.
 *
 * Each folder of the tree has its own watcher. After `debounceMs` without
 * events, the files the events named are looked at again (the whole tree when
 * an event names a folder or a new or hidden path); a periodic full listing
 * covers lost events. Only files whose inode, size or times changed are read,
 * and only once they have been quiet for `quietMs`. Big files are parsed on a
 * worker thread. If the folder disappears while running, the resources read
 * before stay until it is back; a file that turns into something unreadable
 * (a symbolic link loop, a folder, a FIFO) keeps its resources and is
 * reported as a problem.
 */
export class FolderSource implements AsyncDisposable {
  readonly #directory: string;
  readonly #onChange: FolderSourceOptions['onChange'];
  readonly #debounceMs: number;
  readonly #rescanIntervalMs: number;
  readonly #quietMs: number;
  readonly #logger: Logger;
  readonly #parser: ManifestParser;
  readonly #index = new ManifestIndex();
  readonly #files = new Map<string, FileRead>();
  readonly #watchers = new Map<string, { watcher: FSWatcher; inode: number }>();
  #state: 'initialized' | 'starting' | 'started' | 'disposed' = 'initialized';
  #starting: Promise<void> | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #scanAgain = false;
  /** Absolute paths named by events since the last scan; undefined when the whole tree must be listed. */
  #eventPaths: Set<string> | undefined = new Set();
  #quietTimer: NodeJS.Timeout | undefined;
  /** What the next scan looks at: the whole tree, and these files. */
  #pendingFull = false;
  #pendingPaths = new Set<string>();

  constructor(options: FolderSourceOptions) {
    this.#directory = path.resolve(options.directory);
    this.#onChange = options.onChange;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#rescanIntervalMs = options.rescanIntervalMs ?? 5000;
    this.#quietMs = options.quietMs ?? 250;
    this.#logger = (options.logger ?? silentLogger()).child({ component: 'manifests-folder' });
    this.#parser = new ManifestParser({ logger: this.#logger, ...(options.workerThreshold !== undefined ? { workerThreshold: options.workerThreshold } : {}) });
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
    // The first read waits for files still being written, so that start() reports them whole.
    for (let round = 0; ; round++) {
      const wakeIn = await this.#scanOnce({ initial: true });
      if (this.#isDisposed()) return;
      if (wakeIn === Infinity || round >= 20) break;
      await new Promise((r) => setTimeout(r, wakeIn + 5));
    }
    if (this.#isDisposed()) return;
    this.#state = 'started';
    this.#rescanTimer = setInterval(() => this.#requestScan(undefined), this.#rescanIntervalMs);
    this.#logger.info({ directory: this.#directory, files: this.#files.size, problems: this.problems.length }, 'manifests folder read');
    this.#notify();
    if (this.#scanAgain) this.#requestScan(undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'disposed') return;
    this.#state = 'disposed';
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#quietTimer);
    clearInterval(this.#rescanTimer);
    for (const { watcher } of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#starting?.catch(() => undefined);
    await this.#scanning;
    await this.#parser[Symbol.asyncDispose]();
  }

  /** An event in `directory`, naming `name` when the platform says which entry changed. */
  #onEvent(directory: string, name: string | null): void {
    if (this.#state === 'disposed') return;
    const absolute = name ? path.join(directory, name) : undefined;
    const relative = absolute === undefined ? undefined : path.relative(this.#directory, absolute).split(path.sep).join('/');
    // Only a change to a file already known can be followed alone; anything else may be a new folder, a rename or a link swap.
    if (relative === undefined || !this.#files.has(relative)) this.#eventPaths = undefined;
    else this.#eventPaths?.add(relative);
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      const paths = this.#eventPaths;
      this.#eventPaths = new Set();
      this.#requestScan(paths);
    }, this.#debounceMs);
  }

  /** Asks for a look at `paths` (relative), or at the whole tree when undefined. */
  #requestScan(paths: ReadonlySet<string> | undefined): void {
    if (this.#state === 'disposed') return;
    if (paths === undefined) this.#pendingFull = true;
    else for (const p of paths) this.#pendingPaths.add(p);
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
      const full = this.#pendingFull;
      const paths = this.#pendingPaths;
      this.#pendingFull = false;
      this.#pendingPaths = new Set();
      try {
        if (full) await this.#scanOnce({ initial: false });
        else if (paths.size > 0) await this.#scanFiles(paths);
      } catch (err) {
        this.#logger.error({ err }, 'reading the manifests folder failed');
      }
    } while ((this.#scanAgain || this.#pendingFull || this.#pendingPaths.size > 0) && this.#state === 'started');
  }

  /** Looks again at files already known, without listing the tree. */
  async #scanFiles(paths: ReadonlySet<string>): Promise<void> {
    try {
      await checkFolder(this.#directory);
    } catch (err) {
      this.#logger.warn({ err: errorMessage(err), directory: this.#directory }, 'the manifests folder is gone; the resources read before stay');
      return;
    }
    const listed = new Map<string, ListedFile>();
    for (const file of paths) listed.set(file, { absolute: path.join(this.#directory, ...file.split('/')) });
    await this.#refresh(listed, false);
  }


  /** Lists and refreshes the whole tree; resolves with how long until files still being written are quiet (Infinity when none). */
  async #scanOnce({ initial }: { initial: boolean }): Promise<number> {
    let listing: FolderListing;
    try {
      listing = await listFolder(this.#directory);
    } catch (err) {
      if (initial) throw new ManifestFolderError(`cannot list manifests folder ${this.#directory}: ${errorMessage(err)}`, { cause: err });
      this.#logger.warn({ err, directory: this.#directory }, 'cannot list the manifests folder; the resources read before stay');
      return Infinity;
    }
    if (this.#isDisposed()) return Infinity;
    this.#watch(listing.directories);
    return this.#refresh(listing.files, true, !initial);
  }

  /**
   * Reads the listed files that changed and are quiet, and applies them to
   * the index in one batch. With `complete`, known files missing from the
   * listing are deleted. Resolves with how long until the files still being
   * written are quiet (Infinity when none); with `wake`, it also looks again then.
   */
  async #refresh(listed: ReadonlyMap<string, ListedFile>, complete: boolean, wake = true): Promise<number> {
    const changes: (ManifestChange | ParsedManifestChange)[] = [];
    const stamps = new Map<string, FileRead>();
    let wakeIn = Infinity;
    let sliceStart = performance.now();
    const ordered = [...listed].sort(([a], [b]) => (a < b ? -1 : 1));
    // Look at many files at once: a rescan of thousands of files must not take thousands of round trips in a row.
    const looks = new Map<string, Awaited<ReturnType<FolderSource['lookAt']>>>();
    for (let i = 0; i < ordered.length; i += 128) {
      const batch = ordered.slice(i, i + 128);
      const seenBatch = await Promise.all(batch.map(([, entry]) => this.lookAt(entry)));
      for (const [k, [file]] of batch.entries()) looks.set(file, seenBatch[k]!);
      if (this.#isDisposed()) return Infinity;
      // An edit seen while the periodic rescan looks at thousands of files does not wait for it:
      // the edited files are read and applied now. Those this rescan has looked at already differ
      // from the stamps now kept, so it reads them again, and finds the same text.
      if (complete && this.#pendingPaths.size > 0 && !this.#pendingFull) {
        const edited = this.#pendingPaths;
        this.#pendingPaths = new Set();
        await this.#scanFiles(edited);
        if (this.#isDisposed()) return Infinity;
      }
    }
    for (const [file, entry] of ordered) {
      const seen = looks.get(file)!;
      if (seen === 'gone') {
        if (this.#files.has(file)) {
          changes.push({ file, deleted: true });
          stamps.set(file, { stamp: 'gone' });
        }
        continue;
      }
      if ('error' in seen) {
        if (!sameRead(this.#files.get(file), seen)) {
          this.#logger.warn({ file, reason: seen.error }, 'manifest file cannot be read; the resources read from it before stay in force');
          changes.push({ file, error: seen.error });
          stamps.set(file, seen);
        }
        continue;
      }
      if (sameRead(this.#files.get(file), seen)) continue;
      const quietFor = Date.now() - seen.changedAt;
      if (quietFor < this.#quietMs) {
        wakeIn = Math.min(wakeIn, this.#quietMs - quietFor);
        continue;
      }
      let text: string;
      try {
        text = await readFile(entry.absolute, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          if (this.#files.has(file)) changes.push({ file, deleted: true });
          stamps.set(file, { stamp: 'gone' });
        } else {
          changes.push({ file, error: errorMessage(err) });
          stamps.set(file, { error: errorMessage(err) });
        }
        continue;
      }
      changes.push({ file, parsed: await this.#parser.parse(text) });
      stamps.set(file, { stamp: seen.stamp });
      if (this.#isDisposed()) return Infinity;
      // Many small files parse on this thread: let timers (lease renewals) run between slices.
      if (performance.now() - sliceStart > 20) {
        await new Promise((r) => setImmediate(r));
        sliceStart = performance.now();
      }
    }
    // A file moved to a new name looks new (its ctime changes): while a file waits to be quiet,
    // deletions wait too, so that what it holds never disappears in between.
    if (complete && wakeIn === Infinity) {
      for (const file of this.#files.keys()) {
        if (listed.has(file)) continue;
        changes.push({ file, deleted: true });
        stamps.set(file, { stamp: 'gone' });
      }
    }
    if (wake && wakeIn < Infinity) this.#wakeAfterQuiet(wakeIn, complete ? undefined : new Set(listed.keys()));
    if (this.#isDisposed() || changes.length === 0) return wakeIn;
    for (const [file, read] of stamps) {
      if ('stamp' in read && read.stamp === 'gone') this.#files.delete(file);
      else this.#files.set(file, read);
    }
    const steps = this.#index.applyAllInSteps(changes);
    let update;
    for (;;) {
      const step = steps.next();
      if (step.done) {
        update = step.value;
        break;
      }
      if (performance.now() - sliceStart < 20) continue;
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
    }
    if (this.#isDisposed()) return Infinity;
    if ((update.resourcesChanged || update.problemsChanged) && this.#state === 'started') {
      this.#logger.info({ version: this.version, files: changes.length, problems: this.problems.length }, 'manifests changed');
      this.#notify();
    }
    return wakeIn;
  }

  /** What is at a listed path now: a stamp and the time of its last change, why it cannot be read, or gone. */
  private async lookAt(entry: ListedFile): Promise<{ stamp: string; changedAt: number } | { error: string } | 'gone'> {
    if (entry.unreadable !== undefined) return { error: entry.unreadable };
    let info: BigIntStats;
    try {
      info = await stat(entry.absolute, { bigint: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'gone';
      return { error: code === 'ELOOP' ? 'is a symbolic link that cannot be followed (a loop)' : errorMessage(err) };
    }
    const kind = unreadableKind(info);
    if (kind !== undefined) return { error: kind };
    const changedAt = Number((info.mtimeNs > info.ctimeNs ? info.mtimeNs : info.ctimeNs) / 1_000_000n);
    return { stamp: `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`, changedAt };
  }

  /** Looks again once the files still being written have been quiet long enough. */
  #wakeAfterQuiet(delayMs: number, paths: ReadonlySet<string> | undefined): void {
    clearTimeout(this.#quietTimer);
    this.#quietTimer = setTimeout(() => this.#requestScan(paths), Math.ceil(delayMs) + 5);
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
        const watcher = watch(directory, (_event, name) => this.#onEvent(directory, name));
        watcher.on('error', (err) => {
          this.#logger.debug({ err, directory }, 'folder watcher stopped');
          watcher.close();
          if (this.#watchers.get(directory)?.watcher === watcher) this.#watchers.delete(directory);
          this.#onEvent(directory, null);
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
  const changes: ManifestChange[] = [];
  for (const [file, entry] of [...listing.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (entry.unreadable !== undefined) {
      changes.push({ file, error: entry.unreadable });
      continue;
    }
    const read = await readManifest(entry.absolute);
    if (read) changes.push({ file, ...read });
  }
  const index = new ManifestIndex();
  index.applyAll(changes);
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

/** Why a path that should be a manifest file cannot be read as one; undefined for a regular file. */
function unreadableKind(info: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return 'is a folder, not a file';
  if (info.isFIFO()) return 'is a FIFO, not a regular file';
  if (info.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

/**
 * Lists manifest files and folders below `root`, following symbolic links and
 * skipping names that start with `.`. A manifest name (`.yaml`, `.yml`) that
 * is not a readable regular file is listed as unreadable rather than left
 * out, so that what it held is not taken for deleted.
 */
async function listFolder(root: string): Promise<FolderListing> {
  const files = new Map<string, ListedFile>();
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
      const relative = path.relative(root, absolute).split(path.sep).join('/');
      const isManifest = manifestExtensions.has(path.extname(entry.name).toLowerCase());
      let kind: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean } = entry;
      if (entry.isSymbolicLink()) {
        try {
          kind = await stat(absolute);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (isManifest) files.set(relative, { absolute, unreadable: code === 'ELOOP' ? 'is a symbolic link that cannot be followed (a loop)' : `is a symbolic link whose target cannot be read: ${errorMessage(err)}` });
          continue;
        }
      }
      if (isManifest) {
        const unreadable = unreadableKind(kind);
        files.set(relative, unreadable === undefined ? { absolute } : { absolute, unreadable });
      } else if (kind.isDirectory()) {
        await walk(absolute, false);
      }
    }
  }

  await walk(root, true);
  return { files, directories };
}

/** The file's text, or why it cannot be read; undefined when it is gone. */
async function readManifest(absolute: string): Promise<{ text: string } | { error: string } | undefined> {
  try {
    return { text: await readFile(absolute, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { error: errorMessage(err) };
  }
}

function sameRead(a: FileRead | undefined, b: FileRead): boolean {
  if (a === undefined) return false;
  return 'stamp' in a && 'stamp' in b ? a.stamp === b.stamp : 'error' in a && 'error' in b && a.error === b.error;
}
