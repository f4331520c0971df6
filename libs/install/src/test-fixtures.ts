import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { KubeObject } from './objects.js';
import { natsRoles, type NatsRole } from '@meshbus/local-nats';
import type { InstallMaterial, NatsLogin } from './material.js';

// Test fixtures of the renderer: fixed key material, and validation against the Kubernetes schemas.

const pem = (label: string, what: string) => `-----BEGIN ${label}-----\n${Buffer.from(`fixed test ${what}`).toString('base64')}\n-----END ${label}-----\n`;

/** Fixed stand-ins for generated key material, so a render is deterministic (golden files). */
export const fixedTestMaterial: InstallMaterial = {
  identity: {
    trustAnchorsPem: pem('CERTIFICATE', 'trust anchor'),
    issuer: { certificatePem: pem('CERTIFICATE', 'issuer'), privateKeyPem: pem('PRIVATE KEY', 'issuer key') },
  },
  injectorTls: { caPem: pem('CERTIFICATE', 'webhook CA'), certificatePem: pem('CERTIFICATE', 'injector serving certificate'), privateKeyPem: pem('PRIVATE KEY', 'injector key') },
  gatewayTls: { caPem: pem('CERTIFICATE', 'trust anchor'), certificatePem: pem('CERTIFICATE', 'gateway serving certificate'), privateKeyPem: pem('PRIVATE KEY', 'gateway key') },
  natsUsers: Object.fromEntries(natsRoles.map((role) => [role, { user: role, password: `test-password-${role}` }])) as Record<NatsRole, NatsLogin>,
  leafnodeTls: {
    caPem: pem('CERTIFICATE', 'leaf node CA'),
    caKeyPem: pem('PRIVATE KEY', 'leaf node CA key'),
    certificatePem: pem('CERTIFICATE', 'leaf node serving certificate'),
    privateKeyPem: pem('PRIVATE KEY', 'leaf node key'),
  },
};

type Model = new (data: never) => { validate(): void };

const models: Record<string, Model> = {
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

/**
 * What is wrong with an object by the Kubernetes schemas: the
 * `kubernetes-models` validation (types, required fields, formats), and
 * fields the Kubernetes API does not know (found by a round trip through
 * `@kubernetes/client-node`'s typed models, which drop them). Empty when valid.
 */
export function kubernetesProblems(object: KubeObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const model = models[key];
  if (!model) return [`${key}: no Kubernetes model to validate against`];
  const problems: string[] = [];
  try {
    new model(structuredClone(object) as never).validate();
  } catch (err) {
    problems.push(`${key} ${object.metadata.name}: ${(err as Error).message}`);
  }
  const typeName = `V1${object.kind}`;
  const roundTrip = ObjectSerializer.serialize(ObjectSerializer.deserialize(structuredClone(object), typeName, ''), typeName, '') as unknown;
  for (const path of droppedPaths(object, roundTrip)) problems.push(`${key} ${object.metadata.name}: ${path} is not a field of ${object.kind}`);
  return problems;
}

function droppedPaths(original: unknown, kept: unknown, path = ''): string[] {
  if (Array.isArray(original)) return original.flatMap((item, i) => droppedPaths(item, Array.isArray(kept) ? kept[i] : undefined, `${path}[${i}]`));
  if (typeof original !== 'object' || original === null) return [];
  const out: string[] = [];
  for (const [k, value] of Object.entries(original)) {
    const there = typeof kept === 'object' && kept !== null ? (kept as Record<string, unknown>)[k] : undefined;
    if (there === undefined) out.push(path === '' ? k : `${path}.${k}`);
    else out.push(...droppedPaths(value, there, path === '' ? k : `${path}.${k}`));
  }
  return out;
}
