import type { FakeKubeObject } from './fake-kube-object.js';
import type { FakePrinterColumn, FakeResourceType } from './fake-kube-resources.js';

/** Whether an `Accept` header asks for a meta.k8s.io/v1 Table (as `kubectl get` does). */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = new Map(part.split(';').slice(1).map((p) => p.trim().split('=') as [string, string]));
    return params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io' && params.get('v') === 'v1';
  });
}

/** Reads a simple JSONPath (`.spec.replicas`, `{.status.conditions[0].type}`, `.metadata.labels.app`); undefined when absent. */
export function readJsonPath(object: unknown, path: string): unknown {
  const text = path.trim().replace(/^\{(.*)\}$/, '$1').trim();
  if (!text.startsWith('.')) throw new Error(`unsupported JSONPath ${JSON.stringify(path)}: it must start with "."`);
  const steps: (string | number)[] = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]|\['([^']+)'\]/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(text)) !== null) {
    steps.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3] ?? ''));
    at = re.lastIndex;
  }
  if (at !== text.length) throw new Error(`unsupported JSONPath ${JSON.stringify(path)}`);
  let value: unknown = object;
  for (const step of steps) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[step];
  }
  return value;
}

/** An age as kubectl shows it: `45s`, `3m12s`, `5h`, `12d`. */
export function humanAge(since: string | undefined, now = Date.now()): string {
  const then = since ? Date.parse(since) : NaN;
  if (Number.isNaN(then)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - then) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const NAME_COLUMN = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 };
const AGE_COLUMN = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the object was created.', priority: 0 };

function columnsOf(type: FakeResourceType): FakePrinterColumn[] {
  return type.printerColumns && type.printerColumns.length > 0 ? [...type.printerColumns] : [AGE_COLUMN];
}

function cell(column: FakePrinterColumn, object: FakeKubeObject): unknown {
  const value = readJsonPath(object, column.jsonPath);
  if (value === undefined || value === null) return null;
  if (column.type === 'date') return typeof value === 'string' ? humanAge(value) : null;
  if (column.type === 'integer' || column.type === 'number') return typeof value === 'number' ? value : Number(value);
  if (column.type === 'boolean') return typeof value === 'boolean' ? value : value === 'true';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What each row carries as `object`, by the `includeObject` query parameter. */
export type IncludeObject = 'None' | 'Object' | 'PartialObjectMetadata';

/** A meta.k8s.io/v1 Table of `objects`: NAME, the type's printer columns (or AGE), one row per object. */
export function tableOf(
  type: FakeResourceType,
  objects: readonly FakeKubeObject[],
  options: { resourceVersion: string; includeObject?: IncludeObject; withColumns?: boolean },
): Record<string, unknown> {
  const columns = columnsOf(type);
  const include = options.includeObject ?? 'PartialObjectMetadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: options.resourceVersion },
    ...(options.withColumns === false
      ? {}
      : {
          columnDefinitions: [
            NAME_COLUMN,
            ...columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
          ],
        }),
    rows: objects.map((o) => ({
      cells: [o.metadata.name, ...columns.map((c) => cell(c, o))],
      ...(include === 'None'
        ? {}
        : { object: include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
    })),
  };
}
