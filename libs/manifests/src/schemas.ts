/*
 * JSON Schemas (2020-12) of the structure of each kind. Custom formats are
 * those of names.ts; rules that span fields (duplicates, units, regexes) are
 * checked by each kind's decoder after the schema.
 *
 * Kubernetes kinds accept fields meshbus does not read, so that manifests
 * written for a cluster work unchanged; meshbus kinds and ServiceProfile specs
 * refuse unknown fields, which catches typos.
 */

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;

function metadata(nameFormat: string, namespaced: boolean) {
  return {
    type: 'object',
    required: ['name'],
    properties: {
      name: nameFormat === '' ? { type: 'string', minLength: 1 } : { type: 'string', format: nameFormat },
      ...(namespaced ? { namespace: { type: 'string', format: 'dns-1123-label' } } : {}),
      labels: stringMap,
      annotations: stringMap,
    },
  } as const;
}

function resource(nameFormat: string, namespaced: boolean, spec?: Record<string, unknown>) {
  return {
    type: 'object',
    required: spec ? ['apiVersion', 'kind', 'metadata', 'spec'] : ['apiVersion', 'kind', 'metadata'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: metadata(nameFormat, namespaced),
      ...(spec ? { spec } : {}),
    },
  } as const;
}

export const namespaceSchema = resource('dns-1123-label', false);

export const serviceAccountSchema = resource('dns-1123-label', true);

export const serviceSchema = resource('dns-1035-label', true, {
  type: 'object',
  properties: {
    selector: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
    clusterIP: { type: 'string' },
    clusterIPs: { type: 'array', items: { type: 'string' } },
    ports: {
      type: 'array',
      items: {
        type: 'object',
        required: ['port'],
        properties: {
          name: { type: 'string', format: 'dns-1123-label' },
          port,
          targetPort: { type: ['integer', 'string'] },
          protocol: { enum: ['TCP', 'UDP', 'SCTP'] },
          appProtocol: { type: 'string', minLength: 1 },
        },
      },
    },
  },
});

/** A probe in the shape of a Kubernetes container's; only `httpGet` is read. */
const containerProbe = {
  type: 'object',
  additionalProperties: false,
  properties: {
    httpGet: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: {
        path: { type: 'string' },
        port: { type: ['integer', 'string'] },
        host: { type: 'string' },
        scheme: { enum: ['HTTP', 'HTTPS'] },
        httpHeaders: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['name', 'value'], properties: { name: { type: 'string' }, value: { type: 'string' } } },
        },
      },
    },
    exec: { type: 'object' },
    tcpSocket: { type: 'object' },
    grpc: { type: 'object' },
    initialDelaySeconds: { type: 'integer', minimum: 0 },
    periodSeconds: { type: 'integer', minimum: 1 },
    timeoutSeconds: { type: 'integer', minimum: 1 },
    successThreshold: { type: 'integer', minimum: 1 },
    failureThreshold: { type: 'integer', minimum: 1 },
    terminationGracePeriodSeconds: { type: 'integer', minimum: 1 },
  },
} as const;

export const workloadSchema = resource('dns-1123-label', true, {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: {
    address: { type: 'string', format: 'ip-address' },
    ports: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['port'],
        properties: { name: { type: 'string', format: 'port-name' }, port },
      },
    },
    serviceAccount: { type: 'string', format: 'dns-1123-label' },
    ready: { type: 'boolean' },
    meshed: { type: 'boolean' },
    zone: { type: 'string', minLength: 1 },
    weight: { type: 'integer', minimum: 0, maximum: 4294967295 },
    probes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['port'],
        properties: { port: { type: ['integer', 'string'] }, path: { type: 'string' } },
      },
    },
    livenessProbe: containerProbe,
    readinessProbe: containerProbe,
    startupProbe: containerProbe,
  },
});

/** Checked and converted by the decoder, which says what a duration looks like. */
const duration = { type: ['string', 'number'] } as const;

export const serviceProfileSchema = {
  ...resource('', true, {
    type: 'object',
    additionalProperties: false,
    properties: {
      routes: { type: 'array', items: { $ref: '#/$defs/route' } },
      retryBudget: {
        type: 'object',
        additionalProperties: false,
        required: ['retryRatio', 'minRetriesPerSecond', 'ttl'],
        properties: {
          retryRatio: { type: 'number', minimum: 0 },
          minRetriesPerSecond: { type: 'integer', minimum: 0, maximum: 4294967295 },
          ttl: duration,
        },
      },
      dstOverrides: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['authority', 'weight'],
          properties: {
            authority: { type: 'string', minLength: 1 },
            weight: { type: ['number', 'string'] },
          },
        },
      },
      opaquePorts: { type: 'array', items: port },
    },
  }),
  $defs: {
    route: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'condition'],
      properties: {
        name: { type: 'string', minLength: 1 },
        condition: { $ref: '#/$defs/requestMatch' },
        responseClasses: { type: 'array', items: { $ref: '#/$defs/responseClass' } },
        isRetryable: { type: 'boolean' },
        timeout: duration,
      },
    },
    requestMatch: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        method: { type: 'string', pattern: '^[A-Za-z]+$' },
        pathRegex: { type: 'string' },
        all: { type: 'array', minItems: 1, items: { $ref: '#/$defs/requestMatch' } },
        any: { type: 'array', minItems: 1, items: { $ref: '#/$defs/requestMatch' } },
        not: { $ref: '#/$defs/requestMatch' },
      },
    },
    responseClass: {
      type: 'object',
      additionalProperties: false,
      required: ['condition'],
      properties: {
        condition: { $ref: '#/$defs/responseMatch' },
        isFailure: { type: 'boolean' },
      },
    },
    responseMatch: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        status: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            min: { type: 'integer', minimum: 100, maximum: 599 },
            max: { type: 'integer', minimum: 100, maximum: 599 },
          },
        },
        all: { type: 'array', minItems: 1, items: { $ref: '#/$defs/responseMatch' } },
        any: { type: 'array', minItems: 1, items: { $ref: '#/$defs/responseMatch' } },
        not: { $ref: '#/$defs/responseMatch' },
      },
    },
  },
} as const;

export const genericSchema = resource('dns-1123-subdomain', true);

/** A namespaced policy or route resource (name: DNS-1123 subdomain) with the given spec. */
export function policyResource(spec: Record<string, unknown>) {
  return resource('dns-1123-subdomain', true, spec);
}
