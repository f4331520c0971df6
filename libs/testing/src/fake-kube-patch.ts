import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';

/** Thrown for a patch the fake cannot apply; answered with the status code it carries. */
export class PatchError extends Error {
  override readonly name = 'PatchError';
  constructor(
    message: string,
    readonly code: 400 | 415 | 422,
  ) {
    super(message);
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
 * Applies a PATCH body to an object. Strategic merge patches and server-side apply are treated as
 * merge patches (lists are replaced, not merged by key).
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
    return mergePatch(target, patch);
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
