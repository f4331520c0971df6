import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, type Logger } from '@meshbus/runtime';
import type { IssuerMaterial, IssuerSource, IssuerSourceListener } from './issuer-source.js';

/** The three files of a {@link FileIssuerSource}. */
export interface IssuerFiles {
  /** PEM trust anchors, e.g. `<dir>/ca.crt`. */
  readonly trustAnchors: string;
  /** PEM issuer certificate (and intermediates), e.g. `<dir>/issuer.crt`. */
  readonly issuerCertificate: string;
  /** PEM issuer key, e.g. `<dir>/issuer.key`. */
  readonly issuerKey: string;
}

/** Options of {@link FileIssuerSource}. */
export interface FileIssuerSourceOptions {
  readonly files: IssuerFiles;
  /** Re-read this often even without a change notification. @default 30000 */
  readonly recheckIntervalMs?: number;
  /**
   * After a change notification, wait until the files have been quiet this long before reading,
   * so that a rotation replacing the certificate and then the key is read as one change.
   * @default 250
   */
  readonly settleMs?: number;
  readonly logger: Logger;
}

/**
 * Trust material in files (local mode, or a mounted Secret). Watches the directories holding
 * them, which also sees files replaced by rename and Kubernetes' `..data` symlink swaps, and
 * re-reads periodically in case a notification is missed (network file systems, editors).
 */
export class FileIssuerSource implements IssuerSource {
  readonly description: string;
  private readonly watchers = new Map<string, FSWatcher>();
  private listener: IssuerSourceListener | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: FileIssuerSourceOptions) {
    const dirs = this.directories();
    this.description = dirs.length === 1 ? `dir:${dirs[0]}` : `files:${Object.values(options.files).join(',')}`;
  }

  async start(listener: IssuerSourceListener): Promise<void> {
    this.listener = listener;
    this.watchDirectories();
    await this.read();
    this.recheckTimer = setInterval(() => {
      this.watchDirectories();
      this.schedule(0);
    }, this.options.recheckIntervalMs ?? 30_000);
    this.recheckTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.recheckTimer);
    clearTimeout(this.settleTimer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.reading;
  }

  private directories(): string[] {
    return [...new Set(Object.values(this.options.files).map((f: string) => dirname(f)))];
  }

  /** Watches every directory not watched yet; one that does not exist yet is retried at the next re-check. */
  private watchDirectories(): void {
    if (this.stopped) return;
    for (const dir of this.directories()) {
      if (this.watchers.has(dir)) continue;
      try {
        // Any change in the directory triggers a read: mounted Secrets change through other names
        // (`..data`, `..2024_...`), and reading unchanged material costs little.
        const watcher = watch(dir, { persistent: false }, () => this.schedule(this.options.settleMs ?? 250));
        watcher.on('error', (error) => {
          this.options.logger.warn({ dir, error: errorMessage(error) }, 'watching the issuer directory failed; relying on periodic re-reads');
          watcher.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, watcher);
      } catch (error) {
        this.options.logger.warn({ dir, error: errorMessage(error) }, 'cannot watch the issuer directory yet; will retry');
      }
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.reading = this.reading.then(() => this.read());
    }, delayMs);
  }

  private async read(): Promise<void> {
    if (this.stopped || !this.listener) return;
    const { files } = this.options;
    let material: IssuerMaterial;
    try {
      const [trustAnchorsPem, issuerCertificatePem, issuerKeyPem] = await Promise.all([
        readText(files.trustAnchors, 'trust anchors'),
        readText(files.issuerCertificate, 'issuer certificate'),
        readText(files.issuerKey, 'issuer key'),
      ]);
      material = { trustAnchorsPem, issuerCertificatePem, issuerKeyPem };
    } catch (error) {
      if (!this.stopped) this.listener.unreadable(errorMessage(error));
      return;
    }
    if (!this.stopped) this.listener.material(material);
  }
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what} file ${path} does not exist`);
    if (code === 'EACCES') throw new Error(`${what} file ${path} is not readable by this process`);
    throw new Error(`${what} file ${path} cannot be read: ${errorMessage(error)}`);
  }
}
