import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { MeshbusError } from '@meshbus/runtime';

const patchReasons = { 400: 'BadRequest', 415: 'UnsupportedMediaType', 422: 'Invalid' } as const;

/** Thrown for a patch the fake cannot apply; answered with the HTTP status it carries, and its Kubernetes reason as `code`. */
export class PatchError extends MeshbusError {
  override readonly name = 'PatchError';
  declare readonly code: (typeof patchReasons)[keyof typeof patchReasons];
  constructor(
    message: string,
    readonly status: keyof typeof patchReasons,
  ) {
    super(patchReasons[status], message);
  }
}

/** The patch types of a PATCH request's `Content-Type`. */
export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (media) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      throw new PatchError(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, got ${JSON.stringify(contentType ?? '')}`, 415);
  }
}

/** RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * The merge keys of the built-in kinds' lists that strategic merge patches merge element by element
 * (the fake has no schemas; a list field of these names is merged by key wherever it is).
 */
const MERGE_KEYS: Record<string, string | ((items: readonly Record<string, unknown>[]) => string)> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  resourceClaims: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  ownerReferences: 'uid',
  ports: (items) => (items.some((i) => 'containerPort' in i) ? 'containerPort' : 'port'),
};
/** Primitive lists that strategic merge patches merge as sets. */
const SET_LISTS = new Set(['finalizers']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function strategicList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const current = Array.isArray(target) ? target : [];
  if (SET_LISTS.has(field) && patch.every((v) => !isObject(v))) return [...current, ...patch.filter((v) => !current.includes(v))];
  const rule = MERGE_KEYS[field];
  const objects = patch.filter(isObject);
  if (!rule || objects.length !== patch.length) return structuredClone(patch);
  if (objects.length === 1 && objects[0]!.$patch === 'replace') return [];
  const key = typeof rule === 'string' ? rule : rule([...current.filter(isObject), ...objects]);
  const out = current.map((v) => structuredClone(v) as unknown);
  for (const item of objects) {
    const at = out.findIndex((v) => isObject(v) && v[key] === item[key]);
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMergePatch(out[at], item);
    else out.push(strategicMergePatch(undefined, item));
  }
  return out;
}

/**
 * A strategic merge patch without schemas: a merge patch, except that the built-in kinds' keyed lists
 * (containers by name, ports by port, conditions by type, ...) merge element by element, and the
 * directives kubectl writes (`$patch`, `$setElementOrder/`, `$retainKeys`, `$deleteFromPrimitiveList/`)
 * are obeyed.
 */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return strategicMergePatch(undefined, rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  const orders: [string, unknown[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch') continue;
    if (key === '$retainKeys') continue;
    if (key.startsWith('$setElementOrder/')) {
      if (Array.isArray(value)) orders.push([key.slice('$setElementOrder/'.length), value]);
      continue;
    }
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(value)) out[field] = (out[field] as unknown[]).filter((v) => !value.includes(v));
      continue;
    }
    if (value === null) delete out[key];
    else if (Array.isArray(value)) out[key] = strategicList(key, out[key], value);
    else {
      const merged = strategicMergePatch(out[key], value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    }
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const key of Object.keys(out)) if (!(patch.$retainKeys as unknown[]).includes(key)) delete out[key];
  }
  for (const [field, order] of orders) {
    const list = out[field];
    const rule = MERGE_KEYS[field];
    if (!Array.isArray(list) || !rule) continue;
    const key = typeof rule === 'string' ? rule : rule([...list.filter(isObject), ...order.filter(isObject)]);
    const rank = (v: unknown) => {
      const i = order.findIndex((o) => (isObject(o) && isObject(v) ? o[key] === v[key] : o === v));
      return i < 0 ? order.length : i;
    };
    out[field] = [...list].sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

/**
 * Applies a PATCH body to an object. Server-side apply is treated as a merge patch; strategic merge
 * patches as {@link strategicMergePatch} says.
 */
export function applyPatch(target: unknown, type: PatchType, body: string): unknown {
  let patch: unknown;
  try {
    patch = type === 'apply' ? parseYaml(body) : JSON.parse(body);
  } catch (error) {
    throw new PatchError(`the patch is not valid ${type === 'apply' ? 'YAML' : 'JSON'}: ${(error as Error).message}`, 400);
  }
  if (type !== 'json') {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new PatchError('a merge patch must be a JSON object', 400);
    return type === 'strategic' ? strategicMergePatch(target, patch) : mergePatch(target, patch);
  }
  if (!Array.isArray(patch)) throw new PatchError('a JSON patch must be an array of operations', 400);
  const problem = fastJsonPatch.validate(patch as Operation[], target);
  if (problem) throw new PatchError(`the JSON patch cannot be applied: ${problem.message.split('\n')[0]}`, 422);
  try {
    return fastJsonPatch.applyPatch(structuredClone(target), patch as Operation[], false, false).newDocument;
  } catch (error) {
    throw new PatchError(`the JSON patch cannot be applied: ${(error as Error).message.split('\n')[0]}`, 422);
  }
}
