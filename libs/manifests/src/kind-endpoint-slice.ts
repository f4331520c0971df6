import type { KindDefinition } from './kind.js';
import { isIpAddress } from './names.js';
import type { EndpointSlicePort, SliceEndpoint } from './resources.js';

/** The label the EndpointSlice controller puts on a slice to name its Service. */
export const serviceNameLabel = 'kubernetes.io/service-name';

interface SliceDocument {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports?: { name?: string; port?: number; protocol?: 'TCP' | 'UDP' | 'SCTP'; appProtocol?: string }[] | null;
  endpoints?: EndpointDocument[] | null;
}

interface EndpointDocument {
  addresses: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  zone?: string;
  nodeName?: string;
  hints?: { forZones?: { name: string }[] | null } | null;
  targetRef?: { kind?: string; namespace?: string; name?: string };
}

const optionalBoolean = { type: ['boolean', 'null'] } as const;

/** The fields meshbus reads; others (as a cluster writes them) are accepted and ignored. */
const endpointSliceSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'addressType'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', format: 'dns-1123-subdomain' },
        namespace: { type: 'string', format: 'dns-1123-label' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        annotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    addressType: { enum: ['IPv4', 'IPv6', 'FQDN'] },
    ports: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        properties: {
          name: { type: ['string', 'null'] },
          port: { type: ['integer', 'null'], minimum: 1, maximum: 65535 },
          protocol: { enum: ['TCP', 'UDP', 'SCTP', null] },
          appProtocol: { type: ['string', 'null'] },
        },
      },
    },
    endpoints: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        required: ['addresses'],
        properties: {
          addresses: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          conditions: { type: ['object', 'null'], properties: { ready: optionalBoolean, serving: optionalBoolean, terminating: optionalBoolean } },
          zone: { type: ['string', 'null'] },
          nodeName: { type: ['string', 'null'] },
          hints: {
            type: ['object', 'null'],
            properties: { forZones: { type: ['array', 'null'], items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } } },
          },
          targetRef: { type: ['object', 'null'], properties: { kind: { type: 'string' }, namespace: { type: 'string' }, name: { type: 'string' } } },
        },
      },
    },
  },
} as const;

/**
 * `discovery.k8s.io/v1 EndpointSlice`. Conditions get the API's defaults
 * (ready missing is true, serving missing is ready, terminating missing is
 * false); an IP address that does not match the slice's address type is an issue.
 */
export const endpointSliceKind: KindDefinition = {
  kind: 'EndpointSlice',
  accepts: (apiVersion) => apiVersion === 'discovery.k8s.io/v1',
  apiVersionHint: 'discovery.k8s.io/v1',
  identity: 'EndpointSlice',
  namespaced: true,
  collection: 'endpointSlices',
  schema: endpointSliceSchema,
  decode(document, meta, issues) {
    const slice = document as unknown as SliceDocument;
    const ports: EndpointSlicePort[] = (slice.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      ...(typeof p.port === 'number' ? { port: p.port } : {}),
      protocol: p.protocol ?? 'TCP',
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    }));
    const endpoints: SliceEndpoint[] = (slice.endpoints ?? []).map((e, i) => {
      if (slice.addressType !== 'FQDN') {
        e.addresses.forEach((a, j) => {
          const family = a.includes(':') ? 'IPv6' : 'IPv4';
          if (!isIpAddress(a) || family !== slice.addressType) issues.push(`endpoints[${i}].addresses[${j}]: ${JSON.stringify(a)} is not an ${slice.addressType} address`);
        });
      }
      const ready = e.conditions?.ready ?? true;
      const ref = e.targetRef;
      return {
        addresses: [...e.addresses],
        ready,
        serving: e.conditions?.serving ?? ready,
        terminating: e.conditions?.terminating ?? false,
        ...(e.zone ? { zone: e.zone } : {}),
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        forZones: (e.hints?.forZones ?? []).map((z) => z.name),
        ...(ref?.kind && ref.name ? { targetRef: { kind: ref.kind, namespace: ref.namespace ?? meta.namespace, name: ref.name } } : {}),
      };
    });
    const service = meta.labels[serviceNameLabel];
    return {
      kind: 'EndpointSlice',
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      ...(service ? { service } : {}),
      addressType: slice.addressType,
      ports,
      endpoints,
    };
  },
};
