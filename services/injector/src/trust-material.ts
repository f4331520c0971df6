import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errorMessage, MeshbusError, type Logger } from '@meshbus/runtime';

/** What the injector gives every proxy it injects: the anchors PEM, its hash, and the gateways' CA. */
export interface TrustMaterial {
  readonly anchorsPem: string;
  /** SHA-256 (hex) of {@link anchorsPem}, the pods' `meshbus.io/trust-root-sha256`. */
  readonly trustRootSha256: string;
  readonly gatewayCaPem?: string;
}

/** A trust file cannot be used; the message names the variable and the file. */
export class TrustMaterialError extends MeshbusError {
  override name = 'TrustMaterialError';
  constructor(message: string) {
    super('InvalidTrustMaterial', message);
  }
}

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** The anchors PEM and its hash, checked: the text holds at least one PEM certificate. */
export function trustMaterialOf(anchorsPem: string, gatewayCaPem: string | undefined, where: { anchors: string; gatewayCa?: string }): TrustMaterial {
  if (!pemBlock.test(anchorsPem)) throw new TrustMaterialError(`MESHBUS_INJECTOR_TRUST_ANCHORS: ${where.anchors} holds no PEM certificate`);
  if (gatewayCaPem !== undefined && !pemBlock.test(gatewayCaPem)) throw new TrustMaterialError(`MESHBUS_INJECTOR_GATEWAY_CA: ${where.gatewayCa} holds no PEM certificate`);
  return {
    anchorsPem,
    trustRootSha256: createHash('sha256').update(anchorsPem).digest('hex'),
    ...(gatewayCaPem !== undefined ? { gatewayCaPem } : {}),
  };
}

/** Options of {@link TrustMaterialFiles}. */
export interface TrustMaterialFilesOptions {
  readonly anchorsFile: string;
  readonly gatewayCaFile?: string;
  /** How often the files are read again. @default 5000 */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

/**
 * The trust files, read at start and again every interval: a mounted ConfigMap or Secret is
 * updated in place (through a symbolic link swap that file watches miss), so the contents are
 * compared. A new version that cannot be used is logged and the previous one stays.
 */
export class TrustMaterialFiles {
  private material: TrustMaterial | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRefusal: string | undefined;
  private reading: Promise<void> | undefined;

  constructor(private readonly options: TrustMaterialFilesOptions) {}

  /** The material new pods get (after {@link start}); the same object until the files change. */
  get current(): TrustMaterial {
    if (!this.material) throw new Error('the trust material has not been read');
    return this.material;
  }

  /** Reads the files once (a {@link TrustMaterialError} when they cannot be used), then keeps re-reading them. */
  async start(): Promise<void> {
    this.material = await this.read();
    this.timer = setInterval(() => void this.refresh(), this.options.intervalMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files now; resolves once done (a refusal is logged, not thrown). */
  refresh(): Promise<void> {
    this.reading ??= this.read()
      .then((next) => {
        this.lastRefusal = undefined;
        const before = this.material;
        if (before && before.anchorsPem === next.anchorsPem && before.gatewayCaPem === next.gatewayCaPem) return;
        this.material = next;
        this.options.logger.info({ trustRootSha256: next.trustRootSha256, previous: before?.trustRootSha256, gatewayCa: next.gatewayCaPem !== undefined }, 'trust material changed; new pods get it');
      })
      .catch((error: unknown) => {
        const message = errorMessage(error);
        if (message !== this.lastRefusal) this.options.logger.error({ error: message }, 'trust material refused; new pods keep getting the previous one');
        this.lastRefusal = message;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<TrustMaterial> {
    const { anchorsFile, gatewayCaFile } = this.options;
    const anchors = await readFile(anchorsFile, 'utf8').catch((error: unknown) => {
      throw new TrustMaterialError(`MESHBUS_INJECTOR_TRUST_ANCHORS: cannot read ${anchorsFile}: ${errorMessage(error)}`);
    });
    const gatewayCa =
      gatewayCaFile === undefined
        ? undefined
        : await readFile(gatewayCaFile, 'utf8').catch((error: unknown) => {
            throw new TrustMaterialError(`MESHBUS_INJECTOR_GATEWAY_CA: cannot read ${gatewayCaFile}: ${errorMessage(error)}`);
          });
    return trustMaterialOf(anchors, gatewayCa, { anchors: anchorsFile, ...(gatewayCaFile !== undefined ? { gatewayCa: gatewayCaFile } : {}) });
  }
}
