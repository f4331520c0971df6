import { Category, type ClusterCheck } from './context.js';
import { KubeApiError, statusMessage } from './cluster.js';
import { fail, pass, warn } from './model.js';

/** The oldest Kubernetes meshbus supports, and the first with native sidecars. */
export const kubernetesVersions = { minimum: { major: 1, minor: 25 }, nativeSidecars: { major: 1, minor: 29 } } as const;

interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly text: string;
}

/** Reads `major`/`minor` (or `gitVersion`) of the API server's `/version` answer. */
export function parseServerVersion(body: unknown): ServerVersion {
  const v = (body ?? {}) as { major?: unknown; minor?: unknown; gitVersion?: unknown };
  const git = typeof v.gitVersion === 'string' ? /^v?(\d+)\.(\d+)/.exec(v.gitVersion) : null;
  const major = git ? Number(git[1]) : Number(String(v.major ?? '').replace(/\D+$/, ''));
  const minor = git ? Number(git[2]) : Number(String(v.minor ?? '').replace(/\D+$/, ''));
  if (!Number.isInteger(major) || !Number.isInteger(minor) || String(v.major ?? git?.[1] ?? '') === '') {
    throw new Error(`the API server's /version answer names no version: ${JSON.stringify(body)}`);
  }
  return { major, minor, text: typeof v.gitVersion === 'string' ? v.gitVersion : `${major}.${minor}` };
}

function atLeast(v: ServerVersion, want: { major: number; minor: number }): boolean {
  return v.major > want.major || (v.major === want.major && v.minor >= want.minor);
}

/** Checks of the API server itself; every other check needs the first. */
export function apiChecks(): ClusterCheck[] {
  return [
    {
      id: 'api.reachable',
      category: Category.api,
      name: 'can reach the Kubernetes API',
      async run({ cluster }, signal) {
        let res;
        try {
          res = await cluster.http.request({ method: 'GET', path: '/version', signal });
        } catch (error) {
          return fail(`${cluster.http.server}: ${(error as Error).message}; is the kubeconfig (--kubeconfig, KUBECONFIG, --context) right?`);
        }
        if (res.status === 401) return fail(`${cluster.http.server} refused the credentials (401): ${statusMessage(res.body)}; log in again or pick another --context`);
        return pass();
      },
    },
    {
      id: 'api.version',
      category: Category.api,
      name: `Kubernetes version is supported (>= ${kubernetesVersions.minimum.major}.${kubernetesVersions.minimum.minor})`,
      dependsOn: ['api.reachable'],
      async run({ cluster }, signal) {
        const body = await cluster.get<unknown>('/version', signal);
        if (body === undefined) throw new KubeApiError('GET', '/version', 404, 'the API server does not tell its version');
        const version = parseServerVersion(body);
        const min = kubernetesVersions.minimum;
        if (!atLeast(version, min)) return fail(`the cluster runs Kubernetes ${version.text}; meshbus needs ${min.major}.${min.minor} or later`);
        return pass(`Kubernetes ${version.text}`);
      },
    },
    {
      id: 'api.native-sidecars',
      category: Category.api,
      name: `Kubernetes supports native sidecars (>= ${kubernetesVersions.nativeSidecars.major}.${kubernetesVersions.nativeSidecars.minor})`,
      dependsOn: ['api.version'],
      async run({ cluster }, signal) {
        const version = parseServerVersion(await cluster.get<unknown>('/version', signal));
        const want = kubernetesVersions.nativeSidecars;
        if (!atLeast(version, want)) {
          return warn(`Kubernetes ${version.text} has no native sidecars: the proxy runs as an ordinary container, so leave config.meshbus.io/native-sidecar unset or false`);
        }
        return pass();
      },
    },
  ];
}
