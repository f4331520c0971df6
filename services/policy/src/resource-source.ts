import { FolderSource, type FolderSourceOptions, type ManifestProblem, type MeshResources } from '@meshbus/manifests';
import type { Logger } from '@meshbus/runtime';

/** Where the policy service reads its resources from. */
export interface ResourceSource extends AsyncDisposable {
  /** Starts following; resolves after the first full read, having called onChange once. */
  start(onChange: (resources: MeshResources, problems: readonly ManifestProblem[]) => void): Promise<void>;
}

/** Tuning of the folder source (see {@link FolderSourceOptions}). */
export type FolderResourceSourceOptions = Pick<FolderSourceOptions, 'quietMs' | 'debounceMs' | 'rescanIntervalMs' | 'workerThreshold'>;

/** {@link ResourceSource} over a local folder of manifests (local mode). */
export function folderResourceSource(directory: string, logger: Logger, options: FolderResourceSourceOptions = {}): ResourceSource {
  let folder: FolderSource | undefined;
  return {
    async start(onChange) {
      folder = new FolderSource({ ...options, directory, onChange, logger });
      await folder.start();
    },
    async [Symbol.asyncDispose]() {
      await folder?.[Symbol.asyncDispose]();
    },
  };
}
