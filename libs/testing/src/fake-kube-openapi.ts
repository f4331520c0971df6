import { createHash } from 'node:crypto';
import { apiPrefix, groupVersionOf, type FakeResourceType } from './fake-kube-resources.js';

/**
 * OpenAPI v3 as kubectl reads it: `GET /openapi/v3` lists one document per group version, and each
 * document has the resources' paths. kubectl looks in them for the PATCH operation of a kind with
 * a `fieldValidation` query parameter: finding it, it leaves validation to the server (which the
 * fake does not do) instead of downloading the whole schema. Custom resources' schemas are in
 * `components.schemas`.
 */
export function openApiIndex(types: readonly FakeResourceType[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const gv of new Set(types.map(groupVersionOf))) {
    const docPath = apiPrefix(gv).slice(1);
    const hash = createHash('sha256').update(JSON.stringify(openApiDocument(types.filter((t) => groupVersionOf(t) === gv)))).digest('hex').slice(0, 32).toUpperCase();
    paths[docPath] = { serverRelativeURL: `/openapi/v3/${docPath}?hash=${hash}` };
  }
  return { paths };
}

const FIELD_VALIDATION = { name: 'fieldValidation', in: 'query', description: 'Ignore, Warn or Strict', schema: { type: 'string', uniqueItems: true } };

function schemaName(t: FakeResourceType): string {
  const group = t.group === '' ? 'core' : t.group.split('.').reverse().join('.');
  return `${group}.${t.version}.${t.kind}`;
}

/** The OpenAPI v3 document of one group version's types. */
export function openApiDocument(types: readonly FakeResourceType[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const base = `${apiPrefix(groupVersionOf(t))}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`;
    const op = (action: string, parameters: unknown[] = []) => ({
      operationId: `${action}${t.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      parameters,
      responses: { '200': { description: 'OK' } },
    });
    if (t.verbs.includes('list') || t.verbs.includes('create')) {
      paths[base] = {
        ...(t.verbs.includes('list') ? { get: op('list') } : {}),
        ...(t.verbs.includes('create') ? { post: op('post', [FIELD_VALIDATION]) } : {}),
      };
    }
    if (t.verbs.includes('get')) {
      paths[`${base}/{name}`] = {
        get: op('get'),
        ...(t.verbs.includes('update') ? { put: op('put', [FIELD_VALIDATION]) } : {}),
        ...(t.verbs.includes('patch') ? { patch: op('patch', [FIELD_VALIDATION]) } : {}),
        ...(t.verbs.includes('delete') ? { delete: op('delete') } : {}),
      };
    }
    schemas[schemaName(t)] = {
      ...(t.schema && typeof t.schema === 'object' ? t.schema : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
      'x-kubernetes-group-version-kind': [gvk],
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } };
}
