import type { Authentication, Authorization, PolicyNetwork, PolicyRejected } from '@meshbus/bus-schemas';
import type {
  AuthorizationPolicy,
  BackendRef,
  GrpcRoute,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  HttpRoute,
  HttpRouteFilter,
  MeshTLSAuthentication,
  ParentRef,
  PolicyResource,
  ResourceRef,
  RetrySpec,
} from '@meshbus/manifests';
import { grpcStatusNames } from '@meshbus/manifests';
import type { Reader, Route } from './lookup.js';
import { failoverProblemOf } from './failover.js';
import { compareStrings } from './resource-keys.js';
import { routeTarget, serverMismatch, servicePortMismatch } from './protocols.js';
import { allNetworks, type PolicySettings } from './settings.js';

/** Stable category of a problem, as in the `policy.rejected` event. */
export type ProblemCode = 'InvalidResource' | 'UnknownReference' | 'Conflict' | 'UnresolvedParent' | 'IncompatibleProtocol';

/** The `policy.rejected` code of a problem. */
export function rejectedCode(code: ProblemCode): PolicyRejected['code'] {
  return code;
}

export interface Problem {
  readonly code: ProblemCode;
  readonly message: string;
}

/**
 * What a policy resource is on its own (with the resources it names): whether
 * it takes part in policies (`valid`), the problems that keep it out, and the
 * problems that leave out only part of it (a parent that does not resolve
 * among others that do). Backends that do not resolve are `unresolvedRefs`:
 * they fail requests, they do not reject the route.
 */
export interface ResourceCheck {
  readonly valid: boolean;
  readonly problems: readonly Problem[];
  readonly partial: readonly Problem[];
  readonly unresolvedRefs: readonly string[];
  /** For a valid AuthorizationPolicy: the authorization it grants. */
  readonly authorization?: Authorization;
  /** For a valid MeshTLSAuthentication: the clients it admits. */
  readonly authentication?: Authentication;
  /** For a valid route: its parents that resolve. */
  readonly parents?: readonly ParentRef[];
  /** For a valid route: where it applies ({@link routeTarget} keys), its parents' Servers and Service ports of a fitting protocol. */
  readonly applies?: ReadonlySet<string>;
}

const ok: ResourceCheck = { valid: true, problems: [], partial: [], unresolvedRefs: [] };

function invalid(...problems: Problem[]): ResourceCheck {
  return { valid: false, problems, partial: [], unresolvedRefs: [] };
}

const refName = (ref: ResourceRef, namespace: string) => `${ref.kind} ${ref.namespace ?? namespace}/${ref.name}`;

/** The mesh identity of a service account. */
export function serviceAccountIdentity(settings: Pick<PolicySettings, 'identityDomain'>, namespace: string, account: string): string {
  return `${account}.${namespace}.serviceaccount.${settings.identityDomain}`;
}

/** The identity suffix of every service account of a namespace. */
export function namespaceIdentitySuffix(settings: Pick<PolicySettings, 'identityDomain'>, namespace: string): string {
  return `${namespace}.serviceaccount.${settings.identityDomain}`;
}

/** Checks one policy resource against the resources it names. Reads go through `reader`. */
export function checkResource(resource: PolicyResource, reader: Reader, settings: PolicySettings): ResourceCheck {
  switch (resource.kind) {
    case 'Server':
    case 'NetworkAuthentication':
    case 'HTTPFaultInjection':
      return ok;
    case 'MeshTLSAuthentication':
      return checkMeshTls(resource, settings);
    case 'AuthorizationPolicy':
      return checkAuthorizationPolicy(resource, reader, settings);
    case 'HTTPRoute':
    case 'GRPCRoute':
      return checkRoute(resource, reader);
    case 'HTTPLocalRateLimitPolicy':
      return checkRateLimit(resource, reader);
  }
}

function checkMeshTls(authn: MeshTLSAuthentication, settings: PolicySettings): ResourceCheck {
  const identities = new Set<string>();
  const suffixes = new Set<string>();
  for (const identity of authn.identities) {
    if (identity === '*') suffixes.add('');
    else if (identity.startsWith('*.')) suffixes.add(identity.slice(2));
    else identities.add(identity);
  }
  for (const ref of authn.identityRefs) {
    const namespace = ref.namespace ?? authn.namespace;
    if (ref.kind === 'ServiceAccount') identities.add(serviceAccountIdentity(settings, namespace, ref.name));
    else if (ref.kind === 'Namespace') suffixes.add(namespaceIdentitySuffix(settings, ref.name));
    else return invalid({ code: 'InvalidResource', message: `identityRefs names a ${ref.kind}; only ServiceAccount and Namespace references are supported` });
  }
  return { ...ok, authentication: meshTls([...identities], [...suffixes]) };
}

function meshTls(identities: string[], suffixes: string[]): Authentication {
  return { kind: 'meshTls', identities: identities.sort(compareStrings), suffixes: suffixes.sort(compareStrings) };
}

const authzTargetKinds = new Set(['Server', 'HTTPRoute', 'GRPCRoute', 'Namespace']);

function checkAuthorizationPolicy(policy: AuthorizationPolicy, reader: Reader, settings: PolicySettings): ResourceCheck {
  const target = policy.targetRef;
  if (!authzTargetKinds.has(target.kind)) {
    return invalid({ code: 'InvalidResource', message: `targetRef names a ${target.kind}; an AuthorizationPolicy targets a Server, an HTTPRoute, a GRPCRoute or a Namespace` });
  }
  if (target.kind === 'Namespace') {
    if (target.name !== policy.namespace) {
      return invalid({ code: 'InvalidResource', message: `targetRef names Namespace ${target.name}; an AuthorizationPolicy applies in its own namespace (${policy.namespace}) only` });
    }
  } else {
    if ((target.namespace ?? policy.namespace) !== policy.namespace) {
      return invalid({ code: 'InvalidResource', message: `targetRef names ${refName(target, policy.namespace)}; an AuthorizationPolicy applies in its own namespace (${policy.namespace}) only` });
    }
    if (reader.get(target.kind as 'Server' | 'HTTPRoute' | 'GRPCRoute', policy.namespace, target.name) === undefined) {
      return invalid({ code: 'UnknownReference', message: `targetRef names ${refName(target, policy.namespace)}, which does not exist` });
    }
  }

  const identityRefs = policy.requiredAuthenticationRefs.filter((r) => r.kind === 'MeshTLSAuthentication' || r.kind === 'ServiceAccount');
  const networkRefs = policy.requiredAuthenticationRefs.filter((r) => r.kind === 'NetworkAuthentication');
  const other = policy.requiredAuthenticationRefs.find((r) => !identityRefs.includes(r) && !networkRefs.includes(r));
  if (other) {
    return invalid({
      code: 'InvalidResource',
      message: `requiredAuthenticationRefs names a ${other.kind}; only MeshTLSAuthentication, NetworkAuthentication and ServiceAccount references are supported`,
    });
  }
  if (identityRefs.length > 1) {
    return invalid({
      code: 'InvalidResource',
      message: `requiredAuthenticationRefs names ${identityRefs.length} identity authentications (${identityRefs.map((r) => refName(r, policy.namespace)).join(', ')}); at most one MeshTLSAuthentication or ServiceAccount is allowed: list every identity in one MeshTLSAuthentication`,
    });
  }
  if (networkRefs.length > 1) {
    return invalid({
      code: 'InvalidResource',
      message: `requiredAuthenticationRefs names ${networkRefs.length} NetworkAuthentications; at most one is allowed: list every network in one NetworkAuthentication`,
    });
  }

  let authentication: Authentication = { kind: 'unauthenticated' };
  const identityRef = identityRefs[0];
  if (identityRef?.kind === 'ServiceAccount') {
    authentication = meshTls([serviceAccountIdentity(settings, identityRef.namespace ?? policy.namespace, identityRef.name)], []);
  } else if (identityRef) {
    const namespace = identityRef.namespace ?? policy.namespace;
    const authn = reader.get('MeshTLSAuthentication', namespace, identityRef.name);
    if (!authn) return invalid({ code: 'UnknownReference', message: `requiredAuthenticationRefs names ${refName(identityRef, policy.namespace)}, which does not exist` });
    const resolved = checkMeshTls(authn, settings);
    if (!resolved.authentication) {
      return invalid({ code: 'UnknownReference', message: `requiredAuthenticationRefs names ${refName(identityRef, policy.namespace)}, which is invalid` });
    }
    authentication = resolved.authentication;
  }

  let networks: PolicyNetwork[] = allNetworks.map((net) => ({ net }));
  const networkRef = networkRefs[0];
  if (networkRef) {
    const authn = reader.get('NetworkAuthentication', networkRef.namespace ?? policy.namespace, networkRef.name);
    if (!authn) return invalid({ code: 'UnknownReference', message: `requiredAuthenticationRefs names ${refName(networkRef, policy.namespace)}, which does not exist` });
    networks = authn.networks.map((n) => (n.except.length > 0 ? { net: n.cidr, except: [...n.except] } : { net: n.cidr }));
  }

  const ref = { group: apiGroup(policy.apiVersion), kind: policy.kind, namespace: policy.namespace, name: policy.name };
  return { ...ok, authorization: { metadata: ref, labels: { ...ref }, networks, authentication } };
}

/** The group of an apiVersion (`policy.linkerd.io/v1beta3` → `policy.linkerd.io`; `v1` → ''). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

function checkRateLimit(policy: HttpLocalRateLimitPolicy, reader: Reader): ResourceCheck {
  const target = policy.targetRef;
  if (target.kind !== 'Server') return invalid({ code: 'InvalidResource', message: `targetRef names a ${target.kind}; an HTTPLocalRateLimitPolicy targets a Server` });
  if ((target.namespace ?? policy.namespace) !== policy.namespace) {
    return invalid({ code: 'InvalidResource', message: `targetRef names ${refName(target, policy.namespace)}; an HTTPLocalRateLimitPolicy applies in its own namespace (${policy.namespace}) only` });
  }
  for (const override of policy.overrides) {
    for (const client of override.clientRefs) {
      if (client.kind !== 'ServiceAccount') return invalid({ code: 'InvalidResource', message: `an override's clientRefs names a ${client.kind}; only ServiceAccount references are supported` });
    }
  }
  if (!reader.get('Server', policy.namespace, target.name)) {
    return invalid({ code: 'UnknownReference', message: `targetRef names ${refName(target, policy.namespace)}, which does not exist` });
  }
  const first = reader.rateLimitsOf(policy.namespace, target.name)[0];
  if (first && first.name !== policy.name) {
    return invalid({
      code: 'Conflict',
      message: `Server ${policy.namespace}/${target.name} already has HTTPLocalRateLimitPolicy ${first.name} (the first in name order wins); this one is left out`,
    });
  }
  return ok;
}

/** The fault injection an ExtensionRef filter names, or why it cannot be used. */
export function faultInjectionOf(filter: HttpRouteFilter & { type: 'ExtensionRef' }, route: Route, reader: Reader): HttpFaultInjection | Problem {
  const ref = filter.extensionRef;
  if (ref.kind !== 'HTTPFaultInjection') {
    return { code: 'UnknownReference', message: `an ExtensionRef filter names a ${ref.kind}; only HTTPFaultInjection is supported` };
  }
  const found = reader.get('HTTPFaultInjection', ref.namespace ?? route.namespace, ref.name);
  if (!found) return { code: 'UnknownReference', message: `an ExtensionRef filter names ${refName(ref, route.namespace)}, which does not exist` };
  if (route.kind === 'HTTPRoute' && found.abort.httpStatus === undefined) {
    return { code: 'InvalidResource', message: `an ExtensionRef filter names ${refName(ref, route.namespace)}, which has no httpStatus for an HTTPRoute` };
  }
  if (route.kind === 'GRPCRoute' && found.abort.grpcStatus === undefined) {
    return { code: 'InvalidResource', message: `an ExtensionRef filter names ${refName(ref, route.namespace)}, which has no grpcStatus for a GRPCRoute` };
  }
  return found;
}

function checkFilters(filters: readonly HttpRouteFilter[], route: Route, reader: Reader, where: string): Problem | undefined {
  for (const filter of filters) {
    if (filter.type === 'ExtensionRef') {
      const found = faultInjectionOf(filter, route, reader);
      if ('code' in found) return { code: found.code, message: `${where}: ${found.message}` };
    } else if (route.kind === 'GRPCRoute' && filter.type !== 'RequestHeaderModifier') {
      return { code: 'InvalidResource', message: `${where}: a GRPCRoute supports RequestHeaderModifier and ExtensionRef filters only, not ${filter.type}` };
    }
  }
  return undefined;
}

/** gRPC status names a retry names that the proxy API has no name for (the decoders refuse them; typed inputs may not). */
function unknownGrpcCodes(retry: RetrySpec | undefined): string[] {
  return (retry?.grpcCodes ?? []).filter((c) => !(grpcStatusNames as readonly string[]).includes(c));
}

function retryProblem(route: HttpRoute | GrpcRoute): Problem | undefined {
  if (route.kind !== 'GRPCRoute') return undefined;
  const where: [string, RetrySpec | undefined][] = [['annotation retry.linkerd.io/grpc', route.annotationRetry], ...route.rules.map((r, i): [string, RetrySpec | undefined] => [`rule ${i + 1}: retry.codes`, r.retry])];
  for (const [at, retry] of where) {
    const unknown = unknownGrpcCodes(retry);
    if (unknown.length > 0) {
      return { code: 'InvalidResource', message: `${at} names ${unknown.map((c) => JSON.stringify(c)).join(', ')}, not one of ${grpcStatusNames.join(', ')}` };
    }
  }
  return undefined;
}

function checkRoute(route: HttpRoute | GrpcRoute, reader: Reader): ResourceCheck {
  const retry = retryProblem(route);
  if (retry) return invalid(retry);
  const failover = failoverProblemOf(route);
  if (failover) return invalid({ code: 'InvalidResource', message: failover });
  const unresolvedRefs: string[] = [];
  for (const [i, rule] of route.rules.entries()) {
    const problem = checkFilters(rule.filters, route, reader, `rule ${i + 1}`);
    if (problem) return invalid(problem);
    if (route.kind === 'GRPCRoute') {
      for (const match of (rule as GrpcRoute['rules'][number]).matches) {
        if (match.method?.type === 'RegularExpression') {
          return invalid({ code: 'InvalidResource', message: `rule ${i + 1}: a RegularExpression method match is not supported; use Exact` });
        }
      }
    }
    for (const backend of rule.backendRefs) {
      const backendProblem = checkFilters(backend.filters, route, reader, `rule ${i + 1}, backend ${backend.name}`);
      if (backendProblem) return invalid(backendProblem);
      const why = backendProblemOf(backend, route.namespace, undefined, reader);
      if (why !== undefined) unresolvedRefs.push(`rule ${i + 1}: ${why}`);
    }
  }

  const parents: ParentRef[] = [];
  const unresolved: string[] = [];
  for (const parent of route.parentRefs) {
    const why = parentProblemOf(parent, route, reader);
    if (why === undefined) parents.push(parent);
    else unresolved.push(why);
  }
  const applies = new Set<string>();
  const mismatches: string[] = [];
  for (const parent of parents) {
    for (const { target, why } of parentTargets(parent, route, reader)) {
      if (why === undefined) applies.add(target);
      else mismatches.push(why);
    }
  }
  const parentProblems = [
    ...unresolved.map((message): Problem => ({ code: 'UnresolvedParent', message })),
    ...mismatches.map((message): Problem => ({ code: 'IncompatibleProtocol', message })),
  ];
  if (parents.length === 0) {
    return { valid: false, problems: parentProblems.length > 0 ? parentProblems : [{ code: 'UnresolvedParent', message: 'the route has no parentRefs' }], partial: [], unresolvedRefs };
  }
  if (applies.size === 0 && mismatches.length > 0) {
    const incompatible = parentProblems.filter((p) => p.code === 'IncompatibleProtocol');
    return { valid: false, problems: [...incompatible, ...parentProblems.filter((p) => p.code !== 'IncompatibleProtocol')], partial: [], unresolvedRefs };
  }
  return { valid: true, problems: [], partial: parentProblems, unresolvedRefs, parents, applies };
}

/**
 * The Servers and Service ports a resolved parent stands for, each with why
 * the route does not apply there (a protocol that does not fit) or undefined.
 */
function parentTargets(parent: ParentRef, route: Route, reader: Reader): { target: string; why: string | undefined }[] {
  const namespace = parent.namespace ?? route.namespace;
  if (parent.kind === 'Server') {
    const server = reader.get('Server', namespace, parent.name);
    if (!server) return [];
    const target = routeTarget.server(namespace, parent.name);
    const grpc = route.kind === 'HTTPRoute' ? grpcRouteAt('Server', namespace, parent.name, target, reader) : undefined;
    return [{ target, why: serverMismatch(route.kind, server, grpc) }];
  }
  const service = reader.get('Service', namespace, parent.name);
  if (!service) return [];
  return service.ports
    .filter((p) => parent.port === undefined || p.port === parent.port)
    .map((port) => {
      const target = routeTarget.servicePort(namespace, parent.name, port.port);
      const grpc = route.kind === 'HTTPRoute' ? grpcRouteAt('Service', namespace, parent.name, target, reader) : undefined;
      return { target, why: servicePortMismatch(route.kind, service, port, grpc) };
    });
}

/** The first GRPCRoute (namespace and name order) that applies at `target`, as `<namespace>/<name>`. */
function grpcRouteAt(kind: 'Server' | 'Service', namespace: string, name: string, target: string, reader: Reader): string | undefined {
  for (const other of reader.routesOf(kind, namespace, name)) {
    if (other.kind !== 'GRPCRoute') continue;
    if (checkRoute(other, reader).applies?.has(target)) return `${other.namespace}/${other.name}`;
  }
  return undefined;
}

function parentProblemOf(parent: ParentRef, route: Route, reader: Reader): string | undefined {
  const namespace = parent.namespace ?? route.namespace;
  if (parent.kind === 'Server') {
    if (namespace !== route.namespace) return `parentRef names Server ${namespace}/${parent.name}; a route attaches to Servers of its own namespace only`;
    if (!reader.get('Server', namespace, parent.name)) return `parentRef names Server ${namespace}/${parent.name}, which does not exist`;
    return undefined;
  }
  if (parent.kind === 'Service') {
    const service = reader.get('Service', namespace, parent.name);
    if (!service) return `parentRef names Service ${namespace}/${parent.name}, which does not exist`;
    if (parent.port !== undefined && !service.ports.some((p) => p.port === parent.port)) {
      return `parentRef names port ${parent.port} of Service ${namespace}/${parent.name}, which has no such TCP port`;
    }
    return undefined;
  }
  return `parentRef names a ${parent.kind}; a route attaches to a Server or a Service`;
}

/** Why a backendRef cannot be used, or undefined when it can. `port` is the parent port it defaults to. */
export function backendProblemOf(backend: BackendRef, routeNamespace: string, port: number | undefined, reader: Reader): string | undefined {
  const namespace = backend.namespace ?? routeNamespace;
  if ((backend.group !== '' && backend.group !== 'core') || backend.kind !== 'Service') {
    return `backendRef names a ${backend.group === '' ? '' : `${backend.group} `}${backend.kind}; only Services can be backends`;
  }
  const service = reader.get('Service', namespace, backend.name);
  if (!service) return `backendRef names Service ${namespace}/${backend.name}, which does not exist`;
  const wanted = backend.port ?? port;
  if (wanted !== undefined && !service.ports.some((p) => p.port === wanted)) return `backendRef names port ${wanted} of Service ${namespace}/${backend.name}, which has no such TCP port`;
  return undefined;
}
