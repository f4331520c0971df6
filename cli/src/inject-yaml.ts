import { createHash } from 'node:crypto';
import { injectAnnotation, injectPod, uninjectPod, type InjectionConfig, type Pod } from '@meshbus/injector';
import { MeshbusError } from '@meshbus/runtime';
import { parseAllDocuments, stringify } from 'yaml';

/** The input of `meshbus inject` / `uninject` cannot be used; the command exits with 2. */
export class InjectInputError extends MeshbusError {
  override name = 'InjectInputError';
  constructor(message: string) {
    super('InjectInput', message);
  }
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where the pod template of a workload kind is. */
const templatePaths: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** What happened to each object, for the summary on stderr. */
export interface InjectReport {
  readonly object: string;
  readonly outcome: string;
}

function describe(obj: Obj): string {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  return `${String(obj.kind)} ${ns}${typeof meta.name === 'string' ? meta.name : '(unnamed)'}`;
}

/** Injects (or uninjects) one pod or pod template in place. */
function transformPod(holder: Obj, key: string, what: string, mode: 'inject' | 'uninject', config: InjectionConfig, namespace: string, reports: InjectReport[]): void {
  const pod = holder[key];
  if (!isObj(pod) || !isObj(pod.spec) || !Array.isArray(pod.spec.containers)) throw new InjectInputError(`${what}: no pod spec with containers`);
  if (mode === 'uninject') {
    holder[key] = uninjectPod(pod as unknown as Pod);
    reports.push({ object: what, outcome: 'uninjected' });
    return;
  }
  // Offline there is no namespace to ask: `inject` means this pod is to be meshed, unless it says disabled.
  const annotated = structuredClone(pod) as unknown as Pod;
  annotated.metadata ??= {};
  annotated.metadata.annotations ??= {};
  annotated.metadata.annotations[injectAnnotation] ??= 'enabled';
  const result = injectPod(annotated, { name: namespace, annotations: {} }, config);
  if (result.kind === 'refused') throw new InjectInputError(`${what}: ${result.message}`);
  if (result.kind === 'skipped') {
    reports.push({ object: what, outcome: `skipped: ${result.reason}` });
    return;
  }
  holder[key] = result.pod;
  reports.push({ object: what, outcome: 'injected' });
}

function transformObject(obj: Obj, mode: 'inject' | 'uninject', config: InjectionConfig, reports: InjectReport[]): void {
  const kind = obj.kind;
  if (kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(obj.items))) {
    if (!Array.isArray(obj.items)) throw new InjectInputError('a List without items');
    for (const item of obj.items) if (isObj(item)) transformObject(item, mode, config, reports);
    return;
  }
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  if (kind === 'Pod') {
    const box: Obj = { pod: obj };
    transformPod(box, 'pod', describe(obj), mode, config, namespace, reports);
    if (box.pod !== obj) {
      for (const k of Object.keys(obj)) delete obj[k];
      Object.assign(obj, box.pod);
    }
    return;
  }
  const path = typeof kind === 'string' ? templatePaths[kind] : undefined;
  if (!path) return; // Services, ConfigMaps...: printed as they are.
  let holder: unknown = obj;
  for (const step of path.slice(0, -1)) holder = isObj(holder) ? holder[step] : undefined;
  if (!isObj(holder)) throw new InjectInputError(`${describe(obj)}: no ${path.join('.')}`);
  transformPod(holder, path[path.length - 1]!, describe(obj), mode, config, namespace, reports);
}

/**
 * `meshbus inject` / `uninject` on YAML text: every document (Lists included) is read, each pod
 * and pod template transformed, and the documents printed again in the same order.
 */
export function transformYaml(text: string, mode: 'inject' | 'uninject', config: InjectionConfig): { output: string; reports: InjectReport[] } {
  const docs = parseAllDocuments(text);
  const reports: InjectReport[] = [];
  const out: string[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) throw new InjectInputError(`document ${i + 1}: not YAML: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (!isObj(value) || typeof value.kind !== 'string') throw new InjectInputError(`document ${i + 1}: not a Kubernetes object (no kind)`);
    transformObject(value, mode, config, reports);
    out.push(stringify(value, { lineWidth: 0 }));
  });
  if (out.length === 0) throw new InjectInputError('the input holds no Kubernetes object');
  return { output: out.join('---\n'), reports };
}

/** The hash recorded on injected pods, of the anchors PEM given to `--trust-anchors`. */
export function trustRootHash(pem: string): string {
  return createHash('sha256').update(pem).digest('hex');
}
