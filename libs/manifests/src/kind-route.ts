import { reportDuplicates, type KindDefinition } from './kind.js';
import { gatewayGroup, meshbusPolicyGroup, policyGroup } from './kind-policy.js';
import { isDns1123Subdomain } from './names.js';
import {
  acceptsVersions,
  coreGroup,
  policyMeta,
  readDuration,
  readRef,
  readRetryTimeoutAnnotations,
  versionHint,
  type AllowedKind,
} from './policy-common.js';
import type {
  BackendRef,
  GrpcRoute,
  GrpcRouteMatch,
  GrpcRouteRule,
  HeaderModifierSpec,
  HttpRoute,
  HttpRouteFilter,
  HttpRouteMatch,
  HttpRouteRule,
  ParentRef,
  RetrySpec,
  StringMatch,
  TimeoutsSpec,
} from './policy-resources.js';
import { grpcRouteSchema, httpRouteSchema } from './policy-schemas.js';

interface ParentRefDocument {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  sectionName?: string;
}

interface HeaderModifierDocument {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

interface PathModifierDocument {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

interface FilterDocument {
  type: HttpRouteFilter['type'];
  requestHeaderModifier?: HeaderModifierDocument;
  responseHeaderModifier?: HeaderModifierDocument;
  requestRedirect?: { scheme?: 'http' | 'https'; hostname?: string; path?: PathModifierDocument; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: PathModifierDocument };
  extensionRef?: { group: string; kind: string; name: string };
}

interface BackendRefDocument {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: FilterDocument[];
}

interface StringMatchDocument {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

interface RuleDocument<Match, Codes> {
  matches?: Match[];
  filters?: FilterDocument[];
  backendRefs?: BackendRefDocument[];
  timeouts?: { request?: string | number; backendRequest?: string | number };
  retry?: { attempts?: number; codes?: Codes[]; backoff?: string | number };
}

interface HttpMatchDocument {
  path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string };
  headers?: StringMatchDocument[];
  queryParams?: StringMatchDocument[];
  method?: string;
}

interface GrpcMatchDocument {
  method?: { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string };
  headers?: StringMatchDocument[];
}

interface RouteSpecDocument<Rule> {
  parentRefs: ParentRefDocument[];
  hostnames?: string[];
  rules?: Rule[];
}

const routeParents: readonly AllowedKind[] = [
  { group: policyGroup, kind: 'Server' },
  { group: '', kind: 'Service' },
];

const faultInjectionRef: readonly AllowedKind[] = [{ group: meshbusPolicyGroup, kind: 'HTTPFaultInjection' }];

function readParentRef(doc: ParentRefDocument, path: string, issues: string[]): ParentRef {
  // The Gateway API defaults a parentRef to a Gateway, which a mesh route cannot attach to.
  // Without a kind, the Gateway API means a Gateway; without a group, the group of the kind.
  const kind = doc.kind ?? 'Gateway';
  const group = coreGroup(doc.group ?? (doc.kind === undefined ? gatewayGroup : undefined));
  const ref = readRef(
    { ...(doc.group !== undefined || doc.kind === undefined ? { group } : {}), kind, name: doc.name, ...(doc.namespace !== undefined ? { namespace: doc.namespace } : {}) },
    path,
    routeParents,
    issues,
  );
  if (ref?.kind === 'Server' && doc.port !== undefined) issues.push(`${path}.port: a Server has one port; port applies only to a Service parent`);
  return {
    ...(ref ?? { group, kind, name: doc.name }),
    ...(doc.port !== undefined ? { port: doc.port } : {}),
    ...(doc.sectionName !== undefined ? { sectionName: doc.sectionName } : {}),
  };
}

const headerName = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

function checkRegex(value: string, path: string, issues: string[]): void {
  try {
    new RegExp(value);
  } catch (err) {
    issues.push(`${path}: ${JSON.stringify(value)} is not a valid regular expression (${(err as Error).message})`);
  }
}

function readStringMatches(docs: readonly StringMatchDocument[], path: string, kind: 'header' | 'query parameter', issues: string[]): StringMatch[] {
  const caseless = kind === 'header';
  reportDuplicates(
    docs.map((d) => (caseless ? d.name.toLowerCase() : d.name)),
    (n, first, again) => `${path}[${again}].name: ${kind} ${JSON.stringify(n)} is already matched by ${path}[${first}]`,
    issues,
  );
  return docs.map((d, i) => {
    if (kind === 'header' && !headerName.test(d.name)) issues.push(`${path}[${i}].name: ${JSON.stringify(d.name)} is not an HTTP header name`);
    const type = d.type ?? 'Exact';
    if (type === 'RegularExpression') checkRegex(d.value, `${path}[${i}].value`, issues);
    return { type, name: d.name, value: d.value };
  });
}

/** The Gateway API rules for an Exact or PathPrefix path value. */
function checkPath(value: string, path: string, issues: string[]): void {
  if (!value.startsWith('/')) {
    issues.push(`${path}: ${JSON.stringify(value)} must start with '/'`);
    return;
  }
  const bad = ['//', '/./', '/../', '%2f', '%2F', '#'].find((s) => value.includes(s));
  if (bad !== undefined) issues.push(`${path}: ${JSON.stringify(value)} must not contain ${JSON.stringify(bad)}`);
  else if (value.endsWith('/..') || value.endsWith('/.')) issues.push(`${path}: ${JSON.stringify(value)} must not end with '/.' or '/..'`);
}

function readHttpMatch(doc: HttpMatchDocument, path: string, issues: string[]): HttpRouteMatch {
  let matchPath: HttpRouteMatch['path'];
  if (doc.path) {
    const type = doc.path.type ?? 'PathPrefix';
    const value = doc.path.value ?? '/';
    if (type === 'RegularExpression') checkRegex(value, `${path}.path.value`, issues);
    else checkPath(value, `${path}.path.value`, issues);
    matchPath = { type, value };
  } else {
    matchPath = { type: 'PathPrefix', value: '/' };
  }
  return {
    path: matchPath,
    headers: readStringMatches(doc.headers ?? [], `${path}.headers`, 'header', issues),
    queryParams: readStringMatches(doc.queryParams ?? [], `${path}.queryParams`, 'query parameter', issues),
    ...(doc.method !== undefined ? { method: doc.method } : {}),
  };
}

const grpcService = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const grpcMethod = /^[A-Za-z_][A-Za-z_0-9]*$/;

function readGrpcMatch(doc: GrpcMatchDocument, path: string, issues: string[]): GrpcRouteMatch {
  let method: GrpcRouteMatch['method'];
  if (doc.method) {
    const type = doc.method.type ?? 'Exact';
    const { service, method: name } = doc.method;
    if (service === undefined && name === undefined) issues.push(`${path}.method: set service, method or both`);
    if (type === 'Exact') {
      if (service !== undefined && !grpcService.test(service)) issues.push(`${path}.method.service: ${JSON.stringify(service)} is not a gRPC service name (e.g. shop.v1.Catalog)`);
      if (name !== undefined && !grpcMethod.test(name)) issues.push(`${path}.method.method: ${JSON.stringify(name)} is not a gRPC method name (e.g. ListProducts)`);
    } else {
      if (service !== undefined) checkRegex(service, `${path}.method.service`, issues);
      if (name !== undefined) checkRegex(name, `${path}.method.method`, issues);
    }
    method = { type, ...(service !== undefined ? { service } : {}), ...(name !== undefined ? { method: name } : {}) };
  }
  return { ...(method ? { method } : {}), headers: readStringMatches(doc.headers ?? [], `${path}.headers`, 'header', issues) };
}

function readHeaderModifier(doc: HeaderModifierDocument | undefined, path: string, issues: string[]): HeaderModifierSpec {
  const set = doc?.set ?? [];
  const add = doc?.add ?? [];
  const remove = doc?.remove ?? [];
  const names = [...set.map((h) => h.name), ...add.map((h) => h.name), ...remove];
  const where = [...set.map((_, i) => `set[${i}]`), ...add.map((_, i) => `add[${i}]`), ...remove.map((_, i) => `remove[${i}]`)];
  names.forEach((n, i) => {
    if (!headerName.test(n)) issues.push(`${path}.${where[i]}: ${JSON.stringify(n)} is not an HTTP header name`);
  });
  reportDuplicates(
    names.map((n) => n.toLowerCase()),
    (n, first, again) => `${path}.${where[again]}: header ${JSON.stringify(n)} is already changed by ${path}.${where[first]}`,
    issues,
  );
  return { set: set.map((h) => ({ name: h.name, value: h.value })), add: add.map((h) => ({ name: h.name, value: h.value })), remove: [...remove] };
}

const filterField = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
} as const;

function readPathModifier(doc: PathModifierDocument, path: string, prefixMatchOnly: boolean, issues: string[]) {
  const value = doc.type === 'ReplaceFullPath' ? doc.replaceFullPath : doc.replacePrefixMatch;
  const field = doc.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = doc.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (value === undefined) issues.push(`${path}.${field}: is required with type ${doc.type}`);
  else if (!value.startsWith('/')) issues.push(`${path}.${field}: ${JSON.stringify(value)} must start with '/'`);
  if (doc[other] !== undefined) issues.push(`${path}.${other}: must not be set with type ${doc.type}`);
  if (doc.type === 'ReplacePrefixMatch' && !prefixMatchOnly) {
    issues.push(`${path}: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match`);
  }
  return { type: doc.type, value: value ?? '' };
}

function checkHostname(value: string, path: string, issues: string[]): void {
  const bare = value.startsWith('*.') ? value.slice(2) : value;
  if (!isDns1123Subdomain(bare) || /^[0-9.]+$/.test(bare)) {
    issues.push(`${path}: ${JSON.stringify(value)} is not a hostname (a DNS name, optionally starting with '*.'; not an IP address)`);
  }
}

function readFilter(doc: FilterDocument, path: string, prefixMatchOnly: boolean, issues: string[]): HttpRouteFilter {
  const field = filterField[doc.type];
  for (const key of Object.values(filterField)) {
    if (key !== field && doc[key] !== undefined) issues.push(`${path}.${key}: must not be set in a filter of type ${doc.type}`);
  }
  if (doc[field] === undefined && doc.type !== 'RequestHeaderModifier' && doc.type !== 'ResponseHeaderModifier') {
    issues.push(`${path}.${field}: is required in a filter of type ${doc.type}`);
  }
  switch (doc.type) {
    case 'RequestHeaderModifier':
      return { type: doc.type, requestHeaderModifier: readHeaderModifier(doc.requestHeaderModifier, `${path}.requestHeaderModifier`, issues) };
    case 'ResponseHeaderModifier':
      return { type: doc.type, responseHeaderModifier: readHeaderModifier(doc.responseHeaderModifier, `${path}.responseHeaderModifier`, issues) };
    case 'RequestRedirect': {
      const r = doc.requestRedirect ?? {};
      if (r.hostname !== undefined) checkHostname(r.hostname, `${path}.requestRedirect.hostname`, issues);
      return {
        type: doc.type,
        requestRedirect: {
          ...(r.scheme !== undefined ? { scheme: r.scheme } : {}),
          ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
          ...(r.path ? { path: readPathModifier(r.path, `${path}.requestRedirect.path`, prefixMatchOnly, issues) } : {}),
          ...(r.port !== undefined ? { port: r.port } : {}),
          statusCode: r.statusCode ?? 302,
        },
      };
    }
    case 'URLRewrite': {
      const r = doc.urlRewrite ?? {};
      if (r.hostname !== undefined) checkHostname(r.hostname, `${path}.urlRewrite.hostname`, issues);
      return {
        type: doc.type,
        urlRewrite: {
          ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
          ...(r.path ? { path: readPathModifier(r.path, `${path}.urlRewrite.path`, prefixMatchOnly, issues) } : {}),
        },
      };
    }
    case 'ExtensionRef': {
      const e = doc.extensionRef ?? { group: meshbusPolicyGroup, kind: 'HTTPFaultInjection', name: '' };
      const ref = readRef(e, `${path}.extensionRef`, faultInjectionRef, issues);
      return { type: doc.type, extensionRef: ref ?? { group: e.group, kind: e.kind, name: e.name } };
    }
  }
}

function readFilters(docs: readonly FilterDocument[], path: string, prefixMatchOnly: boolean, issues: string[]): HttpRouteFilter[] {
  reportDuplicates(
    docs.map((f) => (f.type === 'ExtensionRef' ? undefined : f.type)),
    (type, first, again) => `${path}[${again}]: a ${type} filter is already given by ${path}[${first}]; merge them`,
    issues,
  );
  const types = new Set(docs.map((f) => f.type));
  if (types.has('RequestRedirect') && types.has('URLRewrite')) issues.push(`${path}: RequestRedirect and URLRewrite cannot be used together`);
  return docs.map((f, i) => readFilter(f, `${path}[${i}]`, prefixMatchOnly, issues));
}

const backendKinds: readonly AllowedKind[] = [{ group: '', kind: 'Service' }];

function readBackendRef(doc: BackendRefDocument, path: string, issues: string[]): BackendRef {
  const ref = readRef(
    { group: doc.group ?? '', kind: doc.kind ?? 'Service', name: doc.name, ...(doc.namespace !== undefined ? { namespace: doc.namespace } : {}) },
    path,
    backendKinds,
    issues,
  );
  if (ref && doc.port === undefined) issues.push(`${path}.port: is required for a Service backend`);
  return {
    group: ref?.group ?? coreGroup(doc.group),
    kind: ref?.kind ?? doc.kind ?? 'Service',
    name: doc.name,
    ...(doc.namespace !== undefined ? { namespace: doc.namespace } : {}),
    ...(doc.port !== undefined ? { port: doc.port } : {}),
    weight: doc.weight ?? 1,
    filters: readFilters(doc.filters ?? [], `${path}.filters`, false, issues),
  };
}

function readTimeouts(doc: NonNullable<RuleDocument<unknown, unknown>['timeouts']>, path: string, issues: string[]): TimeoutsSpec {
  const requestMs = doc.request === undefined ? undefined : readDuration(doc.request, `${path}.request`, issues);
  const backendRequestMs = doc.backendRequest === undefined ? undefined : readDuration(doc.backendRequest, `${path}.backendRequest`, issues);
  // A zero request timeout means no timeout: any backendRequest fits in it.
  if (requestMs !== undefined && requestMs > 0 && backendRequestMs !== undefined && backendRequestMs > requestMs) {
    issues.push(`${path}.backendRequest: ${JSON.stringify(doc.backendRequest)} is longer than ${path}.request ${JSON.stringify(doc.request)}`);
  }
  return { ...(requestMs !== undefined ? { requestMs } : {}), ...(backendRequestMs !== undefined ? { backendRequestMs } : {}) };
}

function readRetry(doc: NonNullable<RuleDocument<unknown, number | string>['retry']>, path: string, grpc: boolean, issues: string[]): RetrySpec {
  const backoffMs = doc.backoff === undefined ? undefined : readDuration(doc.backoff, `${path}.backoff`, issues);
  const codes = doc.codes ?? [];
  return {
    attempts: doc.attempts ?? 1,
    codes: grpc ? [] : [...new Set(codes as number[])].sort((a, b) => a - b).map((c) => ({ start: c, end: c })),
    grpcCodes: grpc ? [...new Set(codes as string[])] : [],
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  };
}

function readCommonRule(doc: RuleDocument<unknown, number | string>, path: string, grpc: boolean, prefixMatchOnly: boolean, issues: string[]) {
  const filters = readFilters(doc.filters ?? [], `${path}.filters`, prefixMatchOnly, issues);
  const backendRefs = (doc.backendRefs ?? []).map((b, i) => readBackendRef(b, `${path}.backendRefs[${i}]`, issues));
  if (filters.some((f) => f.type === 'RequestRedirect') && backendRefs.length > 0) {
    issues.push(`${path}.backendRefs: a rule that redirects sends no request to a backend; remove backendRefs or the RequestRedirect filter`);
  }
  return {
    filters,
    backendRefs,
    ...(doc.timeouts ? { timeouts: readTimeouts(doc.timeouts, `${path}.timeouts`, issues) } : {}),
    ...(doc.retry ? { retry: readRetry(doc.retry, `${path}.retry`, grpc, issues) } : {}),
  };
}

function readRouteBase(spec: RouteSpecDocument<unknown>, issues: string[]) {
  const parentRefs = spec.parentRefs.map((p, i) => readParentRef(p, `spec.parentRefs[${i}]`, issues));
  reportDuplicates(
    parentRefs.map((p) => `${p.group}/${p.kind}/${p.namespace ?? ''}/${p.name}/${p.port ?? ''}/${p.sectionName ?? ''}`),
    (_k, first, again) => `spec.parentRefs[${again}]: is the same parent as spec.parentRefs[${first}]`,
    issues,
  );
  const hostnames = spec.hostnames ?? [];
  hostnames.forEach((h, i) => checkHostname(h, `spec.hostnames[${i}]`, issues));
  return { parentRefs, hostnames: [...hostnames] };
}

function annotationSettings(annotations: Readonly<Record<string, string>>, grpc: boolean, issues: string[]) {
  const { retry, timeouts } = readRetryTimeoutAnnotations(annotations, { http: !grpc, grpc }, issues);
  return { ...(retry ? { annotationRetry: retry } : {}), ...(timeouts ? { annotationTimeouts: timeouts } : {}) };
}

const httpRouteVersions: Readonly<Record<string, readonly string[]>> = { [gatewayGroup]: ['v1', 'v1beta1'], [policyGroup]: ['v1beta1', 'v1beta2', 'v1beta3'] };

function httpRouteKind(group: string): KindDefinition {
  const versions = { [group]: httpRouteVersions[group]! };
  return {
    kind: 'HTTPRoute',
    accepts: acceptsVersions(versions),
    apiVersionHint: versionHint(versions),
    identity: `${group}/HTTPRoute`,
    namespaced: true,
    collection: 'httpRoutes',
    schema: httpRouteSchema,
    decode(document, meta, issues): HttpRoute {
      const spec = document.spec as RouteSpecDocument<RuleDocument<HttpMatchDocument, number>>;
      const rules = (spec.rules ?? []).map((rule, i): HttpRouteRule => {
        const path = `spec.rules[${i}]`;
        const docs = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
        const matches = docs.map((m, j) => readHttpMatch(m, `${path}.matches[${j}]`, issues));
        const prefixOnly = matches.every((m) => m.path?.type === 'PathPrefix');
        return { matches, ...readCommonRule(rule, path, false, prefixOnly, issues) };
      });
      return {
        kind: 'HTTPRoute',
        ...policyMeta(meta),
        ...readRouteBase(spec, issues),
        rules,
        ...annotationSettings(meta.annotations, false, issues),
      };
    },
  };
}

export const httpRouteKinds: readonly KindDefinition[] = [httpRouteKind(gatewayGroup), httpRouteKind(policyGroup)];

const grpcRouteVersions = { [gatewayGroup]: ['v1', 'v1alpha2'] };

export const grpcRouteKind: KindDefinition = {
  kind: 'GRPCRoute',
  accepts: acceptsVersions(grpcRouteVersions),
  apiVersionHint: versionHint(grpcRouteVersions),
  identity: `${gatewayGroup}/GRPCRoute`,
  namespaced: true,
  collection: 'grpcRoutes',
  schema: grpcRouteSchema,
  decode(document, meta, issues): GrpcRoute {
    const spec = document.spec as RouteSpecDocument<RuleDocument<GrpcMatchDocument, string>>;
    const rules = (spec.rules ?? []).map((rule, i): GrpcRouteRule => {
      const path = `spec.rules[${i}]`;
      const docs = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
      const matches = docs.map((m, j) => readGrpcMatch(m, `${path}.matches[${j}]`, issues));
      return { matches, ...readCommonRule(rule, path, true, false, issues) };
    });
    return {
      kind: 'GRPCRoute',
      ...policyMeta(meta),
      ...readRouteBase(spec, issues),
      rules,
      ...annotationSettings(meta.annotations, true, issues),
    };
  },
};
