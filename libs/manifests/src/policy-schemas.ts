/*
 * JSON Schemas of the policy and route kinds. Specs refuse unknown fields:
 * a field meshbus does not implement (a mirror filter, session persistence)
 * is reported rather than silently ignored. Rules that span fields (exactly
 * one selector, references, CIDRs, durations, regular expressions) are
 * checked by each kind's decoder.
 */
import { policyResource } from './schemas.js';

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const name = { type: 'string', minLength: 1 } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
/** Checked and converted by the decoder, which says what a duration looks like. */
const duration = { type: ['string', 'number'] } as const;

function strict(properties: Record<string, unknown>, required: readonly string[] = []) {
  return { type: 'object', additionalProperties: false, ...(required.length > 0 ? { required } : {}), properties } as const;
}

const ref = strict({ group: { type: 'string' }, kind: name, name, namespace: name }, ['kind', 'name']);

const labelSelector = strict({
  matchLabels: stringMap,
  matchExpressions: {
    type: 'array',
    items: strict(
      {
        key: name,
        operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
        values: { type: 'array', items: { type: 'string' } },
      },
      ['key', 'operator'],
    ),
  },
});

export const defaultInboundPolicies = ['all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'] as const;

export const serverSchema = policyResource(
  strict(
    {
      port: { type: ['integer', 'string'] },
      podSelector: labelSelector,
      workloadSelector: labelSelector,
      proxyProtocol: { enum: ['unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque', 'TLS'] },
      accessPolicy: { enum: defaultInboundPolicies },
    },
    ['port'],
  ),
);

export const authorizationPolicySchema = policyResource(
  strict({ targetRef: ref, requiredAuthenticationRefs: { type: 'array', items: ref } }, ['targetRef', 'requiredAuthenticationRefs']),
);

export const meshTLSAuthenticationSchema = policyResource(
  strict({ identities: { type: 'array', items: { type: 'string' } }, identityRefs: { type: 'array', items: ref } }),
);

export const networkAuthenticationSchema = policyResource(
  strict(
    {
      networks: {
        type: 'array',
        minItems: 1,
        items: strict({ cidr: { type: 'string' }, except: { type: 'array', items: { type: 'string' } } }, ['cidr']),
      },
    },
    ['networks'],
  ),
);

const parentRef = strict({ group: { type: 'string' }, kind: name, name, namespace: name, port, sectionName: name }, ['name']);

const headerList = { type: 'array', items: strict({ name, value: { type: 'string' } }, ['name', 'value']) } as const;
const headerModifier = strict({ set: headerList, add: headerList, remove: { type: 'array', items: name } });
const pathModifier = strict(
  { type: { enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }, replaceFullPath: { type: 'string' }, replacePrefixMatch: { type: 'string' } },
  ['type'],
);
const extensionRef = strict({ group: { type: 'string' }, kind: name, name }, ['group', 'kind', 'name']);

function filter(types: readonly string[]) {
  return strict(
    {
      type: { enum: types },
      requestHeaderModifier: headerModifier,
      responseHeaderModifier: headerModifier,
      ...(types.includes('RequestRedirect')
        ? {
            requestRedirect: strict({
              scheme: { enum: ['http', 'https'] },
              hostname: name,
              path: pathModifier,
              port,
              statusCode: { enum: [301, 302, 303, 307, 308] },
            }),
          }
        : {}),
      ...(types.includes('URLRewrite') ? { urlRewrite: strict({ hostname: name, path: pathModifier }) } : {}),
      extensionRef,
    },
    ['type'],
  );
}

export const httpFilterTypes = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'ExtensionRef'] as const;
export const backendFilterTypes = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'ExtensionRef'] as const;

function backendRef(filterTypes: readonly string[]) {
  return strict(
    {
      group: { type: 'string' },
      kind: name,
      name,
      namespace: name,
      port,
      weight: { type: 'integer', minimum: 0, maximum: 1_000_000 },
      filters: { type: 'array', items: filter(filterTypes) },
    },
    ['name'],
  );
}

const timeouts = strict({ request: duration, backendRequest: duration });

const stringMatch = strict({ type: { enum: ['Exact', 'RegularExpression'] }, name, value: { type: 'string' } }, ['name', 'value']);

export const grpcStatusNames = ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'] as const;

const httpRule = strict({
  name: name,
  matches: {
    type: 'array',
    items: strict({
      path: strict({ type: { enum: ['Exact', 'PathPrefix', 'RegularExpression'] }, value: { type: 'string' } }),
      headers: { type: 'array', items: stringMatch },
      queryParams: { type: 'array', items: stringMatch },
      method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
    }),
  },
  filters: { type: 'array', items: filter(httpFilterTypes) },
  backendRefs: { type: 'array', items: backendRef(backendFilterTypes) },
  timeouts,
  retry: strict({ attempts: { type: 'integer', minimum: 0, maximum: 1000 }, codes: { type: 'array', items: { type: 'integer', minimum: 400, maximum: 599 } }, backoff: duration }),
});

const grpcRule = strict({
  name: name,
  matches: {
    type: 'array',
    items: strict({
      method: strict({ type: { enum: ['Exact', 'RegularExpression'] }, service: { type: 'string' }, method: { type: 'string' } }),
      headers: { type: 'array', items: stringMatch },
    }),
  },
  filters: { type: 'array', items: filter(backendFilterTypes) },
  backendRefs: { type: 'array', items: backendRef(backendFilterTypes) },
  timeouts,
  retry: strict({ attempts: { type: 'integer', minimum: 0, maximum: 1000 }, codes: { type: 'array', items: { enum: grpcStatusNames } }, backoff: duration }),
});

function routeSchema(rule: object) {
  return policyResource(
    strict(
      {
        parentRefs: { type: 'array', minItems: 1, items: parentRef },
        hostnames: { type: 'array', items: { type: 'string' } },
        rules: { type: 'array', items: rule },
      },
      ['parentRefs'],
    ),
  );
}

export const httpRouteSchema = routeSchema(httpRule);
export const grpcRouteSchema = routeSchema(grpcRule);

const requestsPerSecond = { type: 'integer', minimum: 1, maximum: 4294967295 } as const;

export const rateLimitPolicySchema = policyResource(
  strict(
    {
      targetRef: ref,
      total: strict({ requestsPerSecond }, ['requestsPerSecond']),
      identity: strict({ requestsPerSecond }, ['requestsPerSecond']),
      overrides: {
        type: 'array',
        items: strict({ requestsPerSecond, clientRefs: { type: 'array', minItems: 1, items: ref } }, ['requestsPerSecond', 'clientRefs']),
      },
    },
    ['targetRef'],
  ),
);

export const faultInjectionSchema = policyResource(
  strict(
    {
      abort: strict({
        httpStatus: { type: 'integer', minimum: 100, maximum: 599 },
        grpcStatus: { type: 'integer', minimum: 1, maximum: 16 },
        message: { type: 'string' },
      }),
      percentage: { type: 'number', minimum: 0, maximum: 100 },
      ratio: strict({ numerator: { type: 'integer', minimum: 0, maximum: 4294967295 }, denominator: { type: 'integer', minimum: 1, maximum: 4294967295 } }, [
        'numerator',
        'denominator',
      ]),
    },
    ['abort'],
  ),
);
