/*
 * The CustomResourceDefinitions of meshbus, generated from the JSON Schemas
 * that validate local manifests, so a resource the cluster accepts is one a
 * manifests folder accepts too.
 */
import {
  authorizationPolicySchema,
  faultInjectionSchema,
  meshTLSAuthenticationSchema,
  networkAuthenticationSchema,
  rateLimitPolicySchema,
  serverSchema,
  serviceProfileSchema,
  workloadSchema,
} from '@meshbus/manifests';
import { crdName, customResources, partOf, partOfLabel } from './layout.js';
import type { KubeObject } from './objects.js';
import { StructuralSchemaError, structuralSchema, type StructuralSchema } from './structural-schema.js';

/** One of the kinds in {@link customResources}. */
export type CustomResourceKind = (typeof customResources)[number]['kind'];

interface Column {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

interface KindSpec {
  /** The local manifest schema of the whole document. */
  readonly schema: object;
  readonly description: string;
  readonly shortNames: readonly string[];
  readonly columns: readonly Column[];
  /** Whether the kind has a status subresource (conditions written by the control plane). */
  readonly status: boolean;
}

const age: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const kinds: Readonly<Record<CustomResourceKind, KindSpec>> = {
  Server: {
    schema: serverSchema,
    description: 'A port of some workloads of its namespace and the protocol it speaks; once a port has a Server, only what an AuthorizationPolicy admits reaches it.',
    shortNames: ['mbsrv'],
    columns: [
      { name: 'Port', type: 'string', jsonPath: '.spec.port' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.proxyProtocol' },
      { name: 'Access', type: 'string', jsonPath: '.spec.accessPolicy', priority: 1 },
      age,
    ],
    status: true,
  },
  AuthorizationPolicy: {
    schema: authorizationPolicySchema,
    description: 'Lets clients that hold every required authentication reach a Server, a route or every Server of the namespace.',
    shortNames: ['mbauthz'],
    columns: [
      { name: 'Target-Kind', type: 'string', jsonPath: '.spec.targetRef.kind' },
      { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
      age,
    ],
    status: true,
  },
  MeshTLSAuthentication: {
    schema: meshTLSAuthenticationSchema,
    description: 'Clients by their mesh TLS identity (identities or service accounts).',
    shortNames: ['mbmtls'],
    columns: [{ name: 'Identities', type: 'string', jsonPath: '.spec.identities' }, age],
    status: false,
  },
  NetworkAuthentication: {
    schema: networkAuthenticationSchema,
    description: 'Clients by their source network.',
    shortNames: ['mbnetauthn'],
    columns: [{ name: 'Networks', type: 'string', jsonPath: '.spec.networks[*].cidr' }, age],
    status: false,
  },
  HTTPLocalRateLimitPolicy: {
    schema: rateLimitPolicySchema,
    description: 'Requests per second a Server admits, in total, per client identity, and for some clients.',
    shortNames: ['mbratelimit'],
    columns: [
      { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
      { name: 'Total', type: 'integer', jsonPath: '.spec.total.requestsPerSecond' },
      { name: 'Identity', type: 'integer', jsonPath: '.spec.identity.requestsPerSecond' },
      age,
    ],
    status: true,
  },
  HTTPFaultInjection: {
    schema: faultInjectionSchema,
    description: 'Fails a share of the requests of a route on purpose, from a route filter.',
    shortNames: ['mbfault'],
    columns: [
      { name: 'Status', type: 'integer', jsonPath: '.spec.abort.httpStatus' },
      { name: 'Percentage', type: 'number', jsonPath: '.spec.percentage' },
      age,
    ],
    status: false,
  },
  ServiceProfile: {
    schema: serviceProfileSchema,
    description: 'Routes, retries, timeouts and traffic split of a service; the name is the fully qualified name of the service.',
    shortNames: ['mbsp'],
    columns: [{ name: 'Routes', type: 'string', jsonPath: '.spec.routes[*].name' }, age],
    status: false,
  },
  Workload: {
    schema: workloadSchema,
    description: 'A host or process outside Kubernetes that takes part in the mesh.',
    shortNames: ['mbwl'],
    columns: [
      { name: 'Address', type: 'string', jsonPath: '.spec.address' },
      { name: 'Ready', type: 'boolean', jsonPath: '.spec.ready' },
      { name: 'Service-Account', type: 'string', jsonPath: '.spec.serviceAccount', priority: 1 },
      age,
    ],
    status: true,
  },
};

/** `status.conditions` in the shape of Kubernetes' `metav1.Condition`. */
const statusSchema: StructuralSchema = {
  type: 'object',
  description: 'Written by the meshbus control plane.',
  properties: {
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: { type: 'string', minLength: 1, maxLength: 316 },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string', maxLength: 1024 },
          message: { type: 'string', maxLength: 32768 },
          lastTransitionTime: { type: 'string', format: 'date-time' },
          observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
        },
      },
    },
  },
};

/**
 * The `openAPIV3Schema` of a kind: the manifest schema's `spec` converted,
 * with the object envelope Kubernetes expects (metadata is the API server's).
 */
export function crdSchema(kind: CustomResourceKind): StructuralSchema {
  const spec = kinds[kind];
  const document = spec.schema as { properties?: { spec?: object }; required?: readonly string[]; $defs?: object };
  const specSchema = document.properties?.spec;
  if (specSchema === undefined) throw new StructuralSchemaError(kind, 'the manifest schema has no spec');
  const converted = structuralSchema({ ...specSchema, ...(document.$defs ? { $defs: document.$defs } : {}) });
  return {
    type: 'object',
    description: spec.description,
    ...(document.required?.includes('spec') ? { required: ['spec'] } : {}),
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: converted,
      ...(spec.status ? { status: statusSchema } : {}),
    },
  };
}

/** The CustomResourceDefinitions, in the order of {@link customResources}. */
export function customResourceDefinitions(labels: Readonly<Record<string, string>> = { [partOfLabel]: partOf }): KubeObject[] {
  return customResources.map((resource) => {
    const spec = kinds[resource.kind];
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: crdName(resource), labels: { ...labels } },
      spec: {
        group: resource.group,
        scope: 'Namespaced',
        names: {
          plural: resource.plural,
          singular: resource.kind.toLowerCase(),
          kind: resource.kind,
          listKind: `${resource.kind}List`,
          shortNames: [...spec.shortNames],
          categories: ['meshbus'],
        },
        versions: [
          {
            name: resource.version,
            served: true,
            storage: true,
            schema: { openAPIV3Schema: crdSchema(resource.kind) },
            ...(spec.status ? { subresources: { status: {} } } : {}),
            additionalPrinterColumns: spec.columns.map((c) => ({ ...c })),
          },
        ],
      },
    };
  });
}
