import type { Collection, DocumentMeta, KindDefinition } from './kind.js';
import { namespaceKind, serviceAccountKind } from './kind-core.js';
import {
  authorizationPolicyKind,
  faultInjectionKind,
  meshTLSAuthenticationKind,
  networkAuthenticationKind,
  rateLimitPolicyKind,
  serverKind,
} from './kind-policy.js';
import { grpcRouteKind, httpRouteKinds } from './kind-route.js';
import { endpointSliceKind } from './kind-endpoint-slice.js';
import { serviceKind } from './kind-service.js';
import { serviceProfileKind } from './kind-service-profile.js';
import { workloadKind } from './kind-workload.js';
import type { MeshResource, StringMap } from './resources.js';
import { schemaIssues } from './schema-validation.js';

const kinds: readonly KindDefinition[] = [
  namespaceKind,
  serviceAccountKind,
  serviceKind,
  workloadKind,
  serviceProfileKind,
  endpointSliceKind,
  serverKind,
  authorizationPolicyKind,
  meshTLSAuthenticationKind,
  networkAuthenticationKind,
  ...httpRouteKinds,
  grpcRouteKind,
  rateLimitPolicyKind,
  faultInjectionKind,
];

/** What is known of a document's identity, for problem reports. */
export interface DocumentRef {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** The outcome of reading one YAML document. */
export type DecodedDocument =
  | { readonly ok: true; readonly key: string; readonly ref: DocumentRef; readonly collection: Collection; readonly resource: MeshResource }
  /** `key` is absent when the document cannot be told apart from others (no kind, unknown kind, no name). */
  | { readonly ok: false; readonly key?: string; readonly ref: DocumentRef; readonly reason: string };

const maxIssues = 8;

/** Identifies, validates and normalises one parsed YAML document. */
export function decodeDocument(value: unknown): DecodedDocument {
  if (!isMapping(value)) {
    return { ok: false, ref: {}, reason: 'is not a mapping: expected a resource with apiVersion, kind and metadata' };
  }
  const { apiVersion, kind } = value;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return { ok: false, ref: typeof kind === 'string' ? { kind } : {}, reason: 'apiVersion and kind are required and must be strings' };
  }
  const sameKind = kinds.filter((k) => k.kind === kind);
  const definition = sameKind.find((k) => k.accepts(apiVersion));
  if (!definition) {
    const hint = sameKind.length > 0 ? `; ${kind} is read with apiVersion ${sameKind.map((k) => k.apiVersionHint).join(' or ')}` : '';
    return { ok: false, ref: { kind, ...looseRef(value.metadata) }, reason: `unknown kind: ${apiVersion} ${kind}${hint}` };
  }

  const metadata = isMapping(value.metadata) ? value.metadata : {};
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : undefined;
  const namespace = definition.namespaced ? (typeof metadata.namespace === 'string' ? metadata.namespace : 'default') : '';
  const ref: DocumentRef = {
    kind,
    ...(definition.namespaced ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
  };
  const key = name === undefined ? undefined : `${definition.identity}/${namespace}/${name}`;

  const invalid = (issues: string[]): DecodedDocument => ({ ok: false, ...(key !== undefined ? { key } : {}), ref, reason: joinIssues(issues) });
  const structural = schemaIssues(definition.schema, value);
  if (structural.length > 0) return invalid(structural);
  if (key === undefined || name === undefined) return invalid(['metadata.name: is required']);

  const meta: DocumentMeta = {
    apiVersion,
    kind,
    namespace,
    name,
    labels: (metadata.labels ?? {}) as StringMap,
    annotations: (metadata.annotations ?? {}) as StringMap,
  };
  const issues: string[] = [];
  const resource = definition.decode(value, meta, issues);
  if (issues.length > 0) return invalid(issues);
  return { ok: true, key, ref, collection: definition.collection, resource };
}

/** Namespace and name as written, for documents of a kind whose scope is unknown. */
function looseRef(metadata: unknown): DocumentRef {
  if (!isMapping(metadata)) return {};
  return {
    ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
    ...(typeof metadata.name === 'string' ? { name: metadata.name } : {}),
  };
}

function joinIssues(issues: string[]): string {
  const shown = issues.slice(0, maxIssues).join('; ');
  return issues.length > maxIssues ? `${shown}; and ${issues.length - maxIssues} more` : shown;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
