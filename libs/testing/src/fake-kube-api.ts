import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { MeshbusError } from '@meshbus/runtime';

import type { FakeKubeObject } from './fake-kube-object.js';
import { openApiDocument, openApiIndex } from './fake-kube-openapi.js';
import { applyPatch, PatchError, patchTypeOf } from './fake-kube-patch.js';
import { forward, parseServiceProxyName, serviceKey, type FakeServiceProxyOptions, type FakeServiceRef, type ProxyTarget } from './fake-kube-proxy.js';
import {
  apiGroup,
  apiResourceList,
  BUILT_IN_RESOURCES,
  collectionKey,
  crdProblem,
  crdResourceTypes,
  groupsOf,
  groupVersionOf,
  kindPlural,
  type FakeResourceType,
} from './fake-kube-resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Selector } from './fake-kube-selectors.js';
import { tableOf, wantsTable, type IncludeObject } from './fake-kube-table.js';
import { selfSignedServingCertificate } from './fake-kube-tls.js';

export type { FakeKubeObject } from './fake-kube-object.js';
export type { FakePrinterColumn, FakeResourceType } from './fake-kube-resources.js';
export type { FakeServiceProxyOptions, FakeServiceRef } from './fake-kube-proxy.js';
export { kindPlural };

/** What the fake answers a TokenReview with (the `status` of authentication.k8s.io/v1 TokenReview). */
export interface FakeTokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[] };
  audiences?: string[];
  error?: string;
}

/** A service-account token the fake's TokenReview accepts. */
export interface FakeServiceAccountToken {
  namespace: string;
  serviceAccount: string;
  /** Audiences the token was issued for. @default the API server's, `https://kubernetes.default.svc` */
  audiences?: string[];
}

/** The `spec` of an authorization.k8s.io/v1 SelfSubjectAccessReview. */
export interface FakeAccessReviewSpec {
  resourceAttributes?: { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
}

/** What the fake answers a SelfSubjectAccessReview with (its `status`). */
export interface FakeAccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
}

/** One request the fake received. */
export interface FakeKubeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The `Accept` header, when sent. */
  accept?: string;
  /** The `Content-Type` header, when sent. */
  contentType?: string;
}

/** Options of {@link startFakeKubeApi}. */
export interface FakeKubeApiOptions {
  /** Bearer token clients must send. @default 'fake-kube-api-token' */
  bearerToken?: string;
  /** Watch events kept for watches resuming from a resourceVersion; older ones get 410 Gone. @default 1000 */
  historyLimit?: number;
  /** How often a watch asking for `allowWatchBookmarks` gets a BOOKMARK event; 0 sends them only on {@link FakeKubeApi.sendBookmarks}. @default 1000 */
  bookmarkIntervalMs?: number;
  /**
   * Serves any resource of any group over HTTP, as earlier versions of the fake did, instead of
   * answering 404 for resources that are neither built in, nor defined by a
   * CustomResourceDefinition, nor of a kind given to {@link FakeKubeApi.apply}. @default false
   */
  serveUnknownResources?: boolean;
  /**
   * Serves HTTPS with a self-signed certificate for 127.0.0.1 (made with `openssl`), which
   * {@link FakeKubeApi.kubeconfig} trusts. kubectl needs it: it sends no bearer token over plain
   * HTTP. @default false
   */
  tls?: boolean;
}

/** Which objects a list or watch asks for. */
interface Query {
  collection: string;
  namespace: string | undefined;
  fieldSelector: Selector;
  labelSelector: Selector;
}

interface WatchEvent {
  rv: number;
  collection: string;
  old: FakeKubeObject | undefined;
  /** The object after the change; for a deletion, the deleted object with its final resourceVersion. */
  object: FakeKubeObject;
  deleted: boolean;
}

interface OpenWatch {
  query: Query;
  type: FakeResourceType;
  res: ServerResponse;
  /** Renders an event's object (as a Table for `kubectl get -w`). */
  render: (object: FakeKubeObject) => unknown;
  bookmarks: boolean;
}

/**
 * A small Kubernetes API server for tests, speaking the real wire protocol that
 * `@kubernetes/client-node` and `kubectl` use, over plain HTTP on 127.0.0.1:
 *
 * - discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]` for the built-in
 *   resources (core v1, apps, batch, discovery.k8s.io, policy, rbac, admissionregistration,
 *   apiextensions, coordination, authentication, authorization) and those of the
 *   CustomResourceDefinitions stored; aggregated discovery is declined by answering the plain
 *   form, which kubectl accepts. `/openapi/v3` has one document per group version with the
 *   resources' paths (no built-in schemas), which lets kubectl's validation on create leave the
 *   checking to the server; `/openapi/v2` is an empty document, which kubectl versions without
 *   OpenAPI v3 (1.20) read as "nothing to validate". The fake does not check fields
 *   (`fieldValidation` is ignored), so `kubectl create` needs no `--validate=false`;
 * - CustomResourceDefinitions: storing one (over HTTP or {@link FakeKubeApi.apply}) serves its
 *   resources and sets its `Established` and `NamesAccepted` conditions; deleting it deletes them.
 *   Resources nobody defined answer 404 (see {@link FakeKubeApiOptions.serveUnknownResources});
 * - list, get and watch: `fieldSelector` on `metadata.name`/`metadata.namespace`, equality and
 *   set-based `labelSelector`s, `?watch=1` as JSON lines of `{"type":"ADDED|MODIFIED|DELETED",
 *   "object":...}`, resuming from `resourceVersion` (410 Gone with an ERROR event when it is older
 *   than the kept history), `timeoutSeconds`, BOOKMARK events for `allowWatchBookmarks`
 *   (periodically and on {@link FakeKubeApi.sendBookmarks}), `sendInitialEvents`;
 * - meta.k8s.io/v1 Tables when `Accept` asks for them (as `kubectl get` does): NAME and AGE, or a
 *   CustomResourceDefinition's `additionalPrinterColumns` (simple JSONPaths);
 * - `limit` and `continue` pages of lists; `dryRun=All`;
 * - create (POST; 409 AlreadyExists), replace (PUT; 409 Conflict on a stale resourceVersion),
 *   PATCH (merge, JSON patch, strategic merge with the built-in kinds' keyed lists such as
 *   containers by name but no schemas, server-side apply applied as a merge patch),
 *   the `status` subresource (PUT and PATCH; writes to the object keep its status), DELETE of an
 *   object or a collection; 404 NotFound Status bodies as a real server sends them;
 * - the service proxy, `/api/v1/namespaces/<ns>/services/[scheme:]<name>[:port]/proxy/<path>`,
 *   to targets registered with {@link FakeKubeApi.setServiceProxy} (503 for others);
 * - `POST /apis/authentication.k8s.io/v1/tokenreviews`, answered for the tokens registered with
 *   {@link FakeKubeApi.addServiceAccountToken} with the API server's audience rules, and
 *   `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (allowed unless
 *   {@link FakeKubeApi.setAccessReviewHandler} says otherwise);
 * - bearer-token authentication.
 *
 * Not spoken: protobuf, admission, namespace lifecycle (objects may be created in namespaces
 * that do not exist; deleting a namespace deletes its objects at once), garbage collection, conversion webhooks (a CRD's versions share their
 * objects, only `apiVersion` changes, as with the `None` strategy), field validation.
 *
 * Tests change objects directly with {@link FakeKubeApi.apply} and {@link FakeKubeApi.remove};
 * open watches see the change as a real API server would send it.
 */
export interface FakeKubeApi extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, or `https://` with {@link FakeKubeApiOptions.tls}. */
  readonly url: string;
  /** The serving certificate (PEM) with {@link FakeKubeApiOptions.tls}. */
  readonly caPem: string | undefined;
  readonly bearerToken: string;
  /** Every request received, oldest first. */
  readonly requests: readonly FakeKubeRequest[];
  /** Options for `KubeConfig.loadFromOptions()`. */
  kubeConfigOptions(): Record<string, unknown>;
  /** A kubeconfig file's content (JSON, which is YAML), for `KUBECONFIG`, `kubectl --kubeconfig` or `loadFromFile()`. */
  kubeconfig(): string;
  /**
   * Creates or replaces an object; returns it as stored (with resourceVersion and uid). An object
   * of a kind the fake does not know makes its resource served (the plural from `options.plural`
   * or {@link kindPlural}); a CustomResourceDefinition serves its resources.
   */
  apply(object: FakeKubeObject, options?: { plural?: string }): FakeKubeObject;
  /** Deletes an object; false when there was none. */
  remove(ref: { apiVersion: string; kind: string; namespace?: string; name: string }, options?: { plural?: string }): boolean;
  /** The stored object, if any. */
  get(ref: { apiVersion: string; kind: string; namespace?: string; name: string }, options?: { plural?: string }): FakeKubeObject | undefined;
  /** Every resource type served now (built-in, of CustomResourceDefinitions, and of kinds given to {@link apply}). */
  resourceTypes(): FakeResourceType[];
  /** Makes TokenReview authenticate `token` as a service account. */
  addServiceAccountToken(token: string, account: FakeServiceAccountToken): void;
  /** Replaces the TokenReview logic (for errors and odd answers). */
  setTokenReviewHandler(handler: ((token: string, audiences: string[]) => FakeTokenReviewStatus) | undefined): void;
  /** Decides SelfSubjectAccessReviews (for denials); undefined allows everything again. */
  setAccessReviewHandler(handler: ((spec: FakeAccessReviewSpec) => FakeAccessReviewStatus) | undefined): void;
  /**
   * Forwards the service proxy path of a service (port omitted: any port) to `target`
   * (`http://` or `https://host:port[/base]`); undefined removes it.
   */
  setServiceProxy(service: FakeServiceRef, target: string | undefined, options?: FakeServiceProxyOptions): void;
  /** Answers every request whose path matches with this HTTP status (an outage, missing RBAC); undefined ends it. */
  failRequests(status: number | undefined, pathPattern?: RegExp): void;
  /** Ends every open watch; clients re-watch from the last resourceVersion they saw. */
  closeWatches(): void;
  /** Sends a BOOKMARK event with the current resourceVersion to every open watch that asked for bookmarks. */
  sendBookmarks(): void;
  /**
   * Drops the kept watch history (through `resourceVersion`, by default all of it): a watch resuming
   * from an older resourceVersion gets 410 Gone and must relist.
   */
  compactHistory(resourceVersion?: string | number): void;
  /** The latest resourceVersion. */
  resourceVersion(): string;
  stop(): Promise<void>;
}

const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc';
const CRD_COLLECTION = '/apis/apiextensions.k8s.io/v1|customresourcedefinitions';
const NAMESPACE_COLLECTION = '/api/v1|namespaces';
const SERVER_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-meshbus-fake', gitCommit: '', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' };

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** Thrown by request handling with the Status the client gets. */
class StatusError extends MeshbusError {
  override readonly name = 'StatusError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(reason, message);
  }
}

function matches(query: Query, object: FakeKubeObject | undefined): object is FakeKubeObject {
  if (!object) return false;
  if (query.namespace !== undefined && object.metadata.namespace !== query.namespace) return false;
  return query.fieldSelector(object) && query.labelSelector(object);
}

/** The watch event a watcher of `query` gets for a change, as the API server computes it (objects moving in or out of a selector). */
function eventFor(query: Query, event: WatchEvent): { type: string; object: FakeKubeObject } | undefined {
  if (event.collection !== query.collection) return undefined;
  const before = matches(query, event.old);
  const after = !event.deleted && matches(query, event.object);
  if (after && before) return { type: 'MODIFIED', object: event.object };
  if (after) return { type: 'ADDED', object: event.object };
  if (before) return { type: 'DELETED', object: event.object };
  return undefined;
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const media = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (media !== 'application/json' && !media.endsWith('+json')) {
    req.resume();
    throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, got ${JSON.stringify(media)}`);
  }
  const text = await readText(req);
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new StatusError(400, 'BadRequest', `the request body is not JSON: ${(error as Error).message}`);
  }
}

/** Everything of an object but `metadata` and `status`: what a change of bumps `metadata.generation`. */
function specPart(object: FakeKubeObject): string {
  const { metadata: _m, status: _s, ...rest } = object;
  return JSON.stringify(rest);
}

/**
 * One page of a list for `limit` and `continue` (the token is the offset of the next item and the
 * list's resourceVersion; the fake serves later pages from the current objects).
 */
function paginate<T>(items: T[], limit: string | undefined, token: string | undefined): { items: T[]; metadata: Record<string, unknown> } {
  let start = 0;
  if (token) {
    let offset = NaN;
    try {
      offset = Number((JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown } | null)?.offset ?? NaN);
    } catch {
      // answered below
    }
    if (!Number.isInteger(offset) || offset < 0) throw new StatusError(400, 'BadRequest', 'the provided continue parameter is not valid');
    start = offset;
  }
  const size = limit === undefined || limit === '' ? 0 : Number(limit);
  if (!Number.isInteger(size) || size < 0) throw new StatusError(400, 'BadRequest', `limit must be a non-negative integer, got ${JSON.stringify(limit)}`);
  if (size === 0 || start + size >= items.length) return { items: items.slice(start), metadata: {} };
  const next = Buffer.from(JSON.stringify({ offset: start + size })).toString('base64url');
  return { items: items.slice(start, start + size), metadata: { continue: next, remainingItemCount: items.length - start - size } };
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Starts a {@link FakeKubeApi} on a free port of 127.0.0.1. */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const bearerToken = options.bearerToken ?? 'fake-kube-api-token';
  const historyLimit = options.historyLimit ?? 1000;
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  /** collection (`<prefix>|<plural>`) → `<namespace>/<name>` → object */
  const store = new Map<string, Map<string, FakeKubeObject>>();
  /** collection → what is served there */
  const types = new Map<string, FakeResourceType>(BUILT_IN_RESOURCES.map((t) => [collectionKey(t), t]));
  /** CRD name → the collections it serves */
  const crdCollections = new Map<string, string[]>();
  const history: WatchEvent[] = [];
  const watches = new Set<OpenWatch>();
  const requests: FakeKubeRequest[] = [];
  const tokens = new Map<string, FakeServiceAccountToken>();
  const proxies = new Map<string, ProxyTarget>();
  let reviewHandler: ((token: string, audiences: string[]) => FakeTokenReviewStatus) | undefined;
  let accessHandler: ((spec: FakeAccessReviewSpec) => FakeAccessReviewStatus) | undefined;
  let failure: { status: number; pattern: RegExp | undefined } | undefined;
  let resourceVersion = 1;
  let compactedThrough = 0;

  /** The collection of a kind given to the test API, made served when the fake does not know it. */
  const collectionOf = (apiVersion: string, kind: string, plural: string | undefined, namespaced: boolean | undefined) => {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    const p = plural ?? kindPlural(kind);
    const collection = collectionKey({ group, version, plural: p });
    if (!types.has(collection) && namespaced !== undefined) {
      types.set(collection, { group, version, plural: p, singular: kind.toLowerCase(), kind, namespaced, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] });
    }
    return collection;
  };
  const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
  /** Where a collection's objects are kept: all served versions of a CRD share one store, as without conversion webhooks. */
  const storageOf = (collection: string) => {
    const t = types.get(collection);
    return t?.custom ? `crd:${t.group}|${t.plural}` : collection;
  };
  const objectsOf = (collection: string) => store.get(storageOf(collection));
  /** An object as a collection serves it: custom resources in the version asked for. */
  const asServed = (collection: string, object: FakeKubeObject): FakeKubeObject => {
    const t = types.get(collection);
    return t?.custom ? { ...object, apiVersion: groupVersionOf(t) } : object;
  };

  const write = (w: OpenWatch, type: string, object: unknown) => {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const bookmark = (w: OpenWatch, annotations?: Record<string, string>) => {
    write(w, 'BOOKMARK', {
      kind: w.type.kind,
      apiVersion: groupVersionOf(w.type),
      metadata: { resourceVersion: String(resourceVersion), ...(annotations ? { annotations } : {}) },
    });
  };

  const record = (collection: string, old: FakeKubeObject | undefined, object: FakeKubeObject, deleted: boolean) => {
    const event: WatchEvent = { rv: Number(object.metadata.resourceVersion), collection, old, object, deleted };
    history.push(event);
    while (history.length > historyLimit) compactedThrough = history.shift()!.rv;
    for (const w of watches) {
      const e = eventFor(w.query, event);
      if (e) write(w, e.type, w.render(e.object));
    }
  };

  /** A stored CustomResourceDefinition as a real server completes it: accepted names and conditions. */
  const establish = (crd: FakeKubeObject): FakeKubeObject => {
    const problem = crdProblem(crd);
    if (problem) throw new StatusError(422, 'Invalid', `CustomResourceDefinition.apiextensions.k8s.io "${crd.metadata.name}" is invalid: ${problem}`);
    const spec = crd.spec as { names: Record<string, unknown>; versions: { name: string; storage?: boolean }[] };
    const kind = spec.names.kind as string;
    const now = timestamp();
    const condition = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now, reason, message });
    return {
      ...crd,
      status: {
        acceptedNames: { singular: kind.toLowerCase(), listKind: `${kind}List`, ...spec.names },
        conditions: [
          condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
          condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
        ],
        storedVersions: spec.versions.filter((v) => v.storage !== false).map((v) => v.name).slice(0, 1),
      },
    };
  };

  const endWatches = (collections: readonly string[]) => {
    for (const w of watches) {
      if (collections.includes(w.query.collection)) {
        w.res.end();
        watches.delete(w);
      }
    }
  };

  const serveCrd = (crd: FakeKubeObject) => {
    const served = crdResourceTypes(crd);
    const collections = served.map(collectionKey);
    const gone = (crdCollections.get(crd.metadata.name) ?? []).filter((c) => !collections.includes(c));
    for (const c of gone) types.delete(c);
    endWatches(gone);
    for (const t of served) {
      const collection = collectionKey(t);
      types.set(collection, t);
      // Objects a test applied before the CRD existed move into the CRD's shared store.
      const earlier = store.get(collection);
      if (earlier) {
        const shared = store.get(storageOf(collection)) ?? new Map<string, FakeKubeObject>();
        for (const [key, o] of earlier) shared.set(key, o);
        store.set(storageOf(collection), shared);
        store.delete(collection);
      }
    }
    crdCollections.set(crd.metadata.name, collections);
  };

  /** Stops serving collections, deleting their objects as a real server deletes a CRD's resources. */
  const unserve = (collections: readonly string[]) => {
    const storages = collections.map(storageOf);
    for (const collection of collections) {
      for (const o of [...(objectsOf(collection)?.values() ?? [])]) del(collection, o.metadata.namespace, o.metadata.name);
    }
    for (const collection of collections) types.delete(collection);
    for (const storage of storages) store.delete(storage);
    endWatches(storages);
  };

  /** Stores an object (with `dryRun`, only says what would be stored). */
  const put = (collection: string, object: FakeKubeObject, dryRun = false): FakeKubeObject => {
    const storage = storageOf(collection);
    const objects = store.get(storage) ?? new Map<string, FakeKubeObject>();
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    const old = objects.get(key);
    const complete = collection === CRD_COLLECTION ? establish(object) : object;
    const rv = dryRun ? Number(old?.metadata.resourceVersion ?? 0) : ++resourceVersion;
    const oldGeneration = typeof old?.metadata.generation === 'number' ? old.metadata.generation : 0;
    const stored: FakeKubeObject = structuredClone({
      ...complete,
      metadata: {
        ...complete.metadata,
        resourceVersion: rv === 0 ? '' : String(rv),
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? timestamp(),
        generation: old && specPart(old) === specPart(complete) ? oldGeneration : oldGeneration + 1,
      },
    });
    if (dryRun) return structuredClone(asServed(collection, stored));
    store.set(storage, objects);
    objects.set(key, stored);
    if (collection === CRD_COLLECTION) serveCrd(stored);
    record(storage, old, stored, false);
    return structuredClone(asServed(collection, stored));
  };

  const del = (collection: string, namespace: string | undefined, name: string, dryRun = false): FakeKubeObject | undefined => {
    const objects = objectsOf(collection);
    const key = keyOf(namespace, name);
    const old = objects?.get(key);
    if (!objects || !old) return undefined;
    if (dryRun) return structuredClone(asServed(collection, old));
    objects.delete(key);
    const rv = ++resourceVersion;
    const gone = structuredClone({ ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } });
    record(storageOf(collection), old, gone, true);
    if (collection === CRD_COLLECTION) {
      unserve(crdCollections.get(name) ?? []);
      crdCollections.delete(name);
    }
    if (collection === NAMESPACE_COLLECTION) {
      // A real server empties a deleted namespace (while it is Terminating); the fake does it at once.
      for (const [c, t] of [...types]) {
        if (!t.namespaced) continue;
        for (const o of [...(objectsOf(c)?.values() ?? [])]) if (o.metadata.namespace === name) del(c, name, o.metadata.name);
      }
    }
    return asServed(collection, gone);
  };

  /** The objects a query selects, as `collection` serves them. */
  const list = (collection: string, query: Query): FakeKubeObject[] =>
    [...(store.get(query.collection)?.values() ?? [])].filter((o) => matches(query, o)).map((o) => structuredClone(asServed(collection, o)));

  const reviewToken = (token: string, requested: string[]): FakeTokenReviewStatus => {
    if (reviewHandler) return reviewHandler(token, requested);
    const account = tokens.get(token);
    if (!account) return { user: {}, error: '[invalid bearer token, service account token has been invalidated]' };
    const tokenAudiences = account.audiences ?? [API_SERVER_AUDIENCE];
    const wanted = requested.length > 0 ? requested : [API_SERVER_AUDIENCE];
    const audiences = tokenAudiences.filter((a) => wanted.includes(a));
    if (audiences.length === 0) {
      return { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(tokenAudiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]` };
    }
    return {
      authenticated: true,
      user: {
        username: `system:serviceaccount:${account.namespace}:${account.serviceAccount}`,
        uid: randomUUID(),
        groups: ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'],
      },
      audiences,
    };
  };

  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const notFoundAtAll = () => new StatusError(404, 'NotFound', 'the server could not find the requested resource');

  const served = () => [...types.values()];

  /** Discovery documents; undefined when `segments` is not a discovery path. */
  const discovery = (segments: string[]): unknown => {
    const all = served();
    if (segments.length === 1 && segments[0] === 'api') {
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(url).host }] };
    }
    if (segments.length === 2 && segments[0] === 'api') {
      const inVersion = all.filter((t) => t.group === '' && t.version === segments[1]);
      if (inVersion.length === 0) throw notFoundAtAll();
      return apiResourceList(segments[1]!, inVersion);
    }
    if (segments[0] !== 'apis' || segments.length > 3) return undefined;
    const groups = groupsOf(all);
    if (segments.length === 1) {
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([name, versions]) => apiGroup(name, versions)) };
    }
    const versions = groups.get(segments[1]!);
    if (!versions) throw notFoundAtAll();
    if (segments.length === 2) return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(segments[1]!, versions) };
    const inVersion = all.filter((t) => t.group === segments[1] && t.version === segments[2]);
    if (inVersion.length === 0) throw notFoundAtAll();
    return apiResourceList(`${segments[1]}/${segments[2]}`, inVersion);
  };

  const serveWatch = (req: IncomingMessage, res: ServerResponse, w: Omit<OpenWatch, 'res'>, params: Record<string, string>) => {
    const from = params.resourceVersion;
    const start = from === undefined || from === '' || from === '0' ? undefined : Number(from);
    const initial = params.sendInitialEvents === 'true';
    if (start !== undefined && !initial && (!Number.isFinite(start) || start < compactedThrough)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
      const gone = status(410, 'Expired', `too old resource version: ${from} (${compactedThrough})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const open: OpenWatch = { ...w, res };
    if (start === undefined || initial) {
      for (const object of list(w.query.collection, w.query)) write(open, 'ADDED', w.render(object));
      if (initial && w.bookmarks) bookmark(open, { 'k8s.io/initial-events-end': 'true' });
    } else {
      for (const event of history) {
        if (event.rv <= start) continue;
        const e = eventFor(w.query, event);
        if (e) write(open, e.type, w.render(e.object));
      }
    }
    watches.add(open);
    const timeoutSeconds = params.timeoutSeconds ? Number(params.timeoutSeconds) : undefined;
    const timer = timeoutSeconds === undefined || !Number.isFinite(timeoutSeconds) ? undefined : setTimeout(() => res.end(), timeoutSeconds * 1000);
    const ticker = w.bookmarks && bookmarkIntervalMs > 0 ? setInterval(() => bookmark(open), bookmarkIntervalMs) : undefined;
    const close = () => {
      clearTimeout(timer);
      clearInterval(ticker);
      watches.delete(open);
    };
    req.on('close', close);
    res.on('close', close);
  };

  const serveProxy = (req: IncomingMessage, res: ServerResponse, namespace: string, service: string, path: string[], search: string) => {
    const { name, port } = parseServiceProxyName(service);
    const target = proxies.get(serviceKey(namespace, name, port)) ?? proxies.get(serviceKey(namespace, name, undefined));
    const unavailable = (message: string) => {
      if (res.headersSent) res.destroy();
      else send(res, 503, status(503, 'ServiceUnavailable', message));
    };
    if (!target) {
      req.resume();
      unavailable(`no endpoints available for service "${service}"`);
      return;
    }
    forward(req, res, target, path.map(encodeURIComponent).join('/'), search, unavailable);
  };

  const typeFor = (prefix: string, plural: string, namespace: string | undefined): FakeResourceType => {
    const collection = `${prefix}|${plural}`;
    const known = types.get(collection);
    if (known) return known;
    if (!options.serveUnknownResources) throw notFoundAtAll();
    const gv = prefix.replace(/^\/apis?\//, '');
    const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
    const kind = objectsOf(collection)?.values().next().value?.kind ?? plural;
    return { group, version, plural, singular: plural, kind, namespaced: namespace !== undefined, verbs: [] };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const accept = req.headers.accept;
    const contentType = req.headers['content-type'];
    requests.push({ method, path: url.pathname, query, ...(accept ? { accept } : {}), ...(contentType ? { contentType } : {}) });
    if (req.headers.authorization !== `Bearer ${bearerToken}`) {
      send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (failure && (!failure.pattern || failure.pattern.test(url.pathname))) {
      send(res, failure.status, status(failure.status, 'InternalError', `fake API server answers ${failure.status}`));
      return;
    }
    let segments: string[];
    try {
      segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new StatusError(400, 'BadRequest', `the path ${JSON.stringify(url.pathname)} is not validly escaped`);
    }
    if (method === 'GET') {
      if (url.pathname === '/version') return send(res, 200, SERVER_VERSION);
      if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      if (url.pathname === '/openapi/v3') return send(res, 200, openApiIndex(served()));
      if (url.pathname === '/openapi/v2') {
        // No schemas: kubectl before OpenAPI v3 (Debian's 1.20) validates nothing it finds no schema for.
        if (accept?.includes('protobuf')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end();
          return;
        }
        return send(res, 200, { swagger: '2.0', info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion }, paths: {}, definitions: {} });
      }
      if (segments[0] === 'openapi' && segments[1] === 'v3' && segments.length > 2) {
        const gv = segments[2] === 'api' ? segments[3] : `${segments[3]}/${segments[4]}`;
        const inVersion = served().filter((t) => groupVersionOf(t) === gv);
        if (inVersion.length === 0) throw notFoundAtAll();
        return send(res, 200, openApiDocument(inVersion));
      }
      const doc = discovery(segments);
      if (doc !== undefined) return send(res, 200, doc);
    }
    if (method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const review = (await readBody(req)) as { spec?: { token?: string; audiences?: string[] } } | undefined;
      if (!review?.spec?.token) throw new StatusError(400, 'BadRequest', 'TokenReview spec.token is required');
      const answer = reviewToken(review.spec.token, review.spec.audiences ?? []);
      return send(res, 201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec, status: answer });
    }
    if (method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const review = (await readBody(req)) as { spec?: FakeAccessReviewSpec } | undefined;
      const spec = review?.spec ?? {};
      if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
        throw new StatusError(422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes or spec.nonResourceAttributes is required');
      }
      const answer = accessHandler ? accessHandler(spec) : { allowed: true };
      return send(res, 201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: answer });
    }

    let prefix: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 3) [prefix, rest] = [`/api/${segments[1]}`, segments.slice(2)];
    else if (segments[0] === 'apis' && segments.length >= 4) [prefix, rest] = [`/apis/${segments[1]}/${segments[2]}`, segments.slice(3)];
    else throw notFoundAtAll();

    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    let sub: string[] = [];
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(prefix === '/api/v1' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
      [, namespace, plural = '', name] = rest as [string, string, string, string | undefined];
      sub = rest.slice(4);
    } else {
      [plural = '', name] = rest as [string, string | undefined];
      sub = rest.slice(2);
    }

    if (prefix === '/api/v1' && plural === 'services' && namespace !== undefined && name !== undefined && sub[0] === 'proxy') {
      return serveProxy(req, res, namespace, name, sub.slice(1), url.search);
    }

    const type = typeFor(prefix, plural, namespace);
    if (namespace !== undefined && !type.namespaced && type.verbs.length > 0) throw notFoundAtAll();
    const collection = `${prefix}|${plural}`;
    const apiVersion = groupVersionOf(type);
    const subresource = sub.join('/');
    if (subresource !== '' && !(subresource === 'status' && (type.subresources?.includes('status') ?? false))) throw notFoundAtAll();
    const qualified = type.group === '' ? plural : `${plural}.${type.group}`;
    const notFound = (n: string) => new StatusError(404, 'NotFound', `${qualified} "${n}" not found`, { name: n, group: type.group, kind: plural });
    const table = wantsTable(accept);
    const includeObject = (['None', 'Object', 'PartialObjectMetadata'] as const).find((v) => v === query.includeObject) as IncludeObject | undefined;
    const tableOptions = { resourceVersion: String(resourceVersion), ...(includeObject ? { includeObject } : {}) };
    const objectNamespace = type.namespaced ? namespace : undefined;
    if (query.dryRun !== undefined && query.dryRun !== 'All') throw new StatusError(400, 'BadRequest', `dryRun must be All, got ${JSON.stringify(query.dryRun)}`);
    const dryRun = query.dryRun === 'All';

    if (name === undefined) {
      const q: Query = { collection: storageOf(collection), namespace, fieldSelector: parseFieldSelector(query.fieldSelector), labelSelector: parseLabelSelector(query.labelSelector) };
      if (method === 'GET') {
        if (query.watch === 'true' || query.watch === '1') {
          const render = table
            ? (o: FakeKubeObject) => tableOf(type, [asServed(collection, o)], { ...tableOptions, resourceVersion: o.metadata.resourceVersion ?? '' })
            : (o: FakeKubeObject) => asServed(collection, o);
          return serveWatch(req, res, { query: q, type, render, bookmarks: query.allowWatchBookmarks === 'true' }, query);
        }
        const { items: found, metadata } = paginate(list(collection, q), query.limit, query.continue);
        if (table) return send(res, 200, { ...tableOf(type, found, tableOptions), metadata: { ...metadata, resourceVersion: String(resourceVersion) } });
        const items = type.custom ? found : found.map(({ apiVersion: _a, kind: _k, ...item }) => item);
        return send(res, 200, { kind: `${type.kind}List`, apiVersion, metadata: { ...metadata, resourceVersion: String(resourceVersion) }, items });
      }
      if (method === 'POST') {
        const body = (await readBody(req)) as FakeKubeObject | undefined;
        if (!body?.metadata?.name) throw new StatusError(422, 'Invalid', `${type.kind} "" is invalid: metadata.name: Required value: name is required`);
        const ns = objectNamespace ?? (type.namespaced ? (body.metadata.namespace ?? 'default') : undefined);
        if (objectsOf(collection)?.has(keyOf(ns, body.metadata.name))) {
          throw new StatusError(409, 'AlreadyExists', `${qualified} "${body.metadata.name}" already exists`, { name: body.metadata.name, group: type.group, kind: plural });
        }
        const { namespace: _n, resourceVersion: _rv, ...metadata } = body.metadata;
        const object = put(collection, { ...body, apiVersion, kind: type.kind, metadata: { ...metadata, name: body.metadata.name, ...(ns === undefined ? {} : { namespace: ns }) } }, dryRun);
        return send(res, 201, object);
      }
      if (method === 'DELETE') {
        const gone = list(collection, q).map((o) => del(collection, o.metadata.namespace, o.metadata.name, dryRun)!);
        return send(res, 200, { kind: `${type.kind}List`, apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items: gone });
      }
      throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${qualified}`);
    }

    const key = keyOf(objectNamespace, name);
    const stored = objectsOf(collection)?.get(key);
    const current = stored && asServed(collection, stored);
    if (method === 'GET') {
      if (!current) throw notFound(name);
      if (table) return send(res, 200, tableOf(type, [current], tableOptions));
      return send(res, 200, current);
    }
    if (method === 'DELETE') {
      await readText(req);
      const gone = del(collection, objectNamespace, name, dryRun);
      if (!gone) throw notFound(name);
      return send(res, 200, gone);
    }
    if (method !== 'PUT' && method !== 'PATCH') throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on ${qualified}`);

    let next: FakeKubeObject;
    let created = false;
    if (method === 'PUT') {
      const body = (await readBody(req)) as FakeKubeObject | undefined;
      if (!body?.metadata?.name || body.metadata.name !== name) {
        throw new StatusError(400, 'BadRequest', `the name of the object (${body?.metadata?.name ?? ''}) does not match the name on the URL (${name})`);
      }
      if (!current) throw notFound(name);
      if (body.metadata.resourceVersion !== undefined && body.metadata.resourceVersion !== '' && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        throw conflict(qualified, name);
      }
      next = body;
    } else {
      const patchType = patchTypeOf(contentType);
      const text = await readText(req);
      if (!current && (patchType !== 'apply' || subresource !== '')) throw notFound(name);
      created = !current;
      const base: FakeKubeObject = current ?? { apiVersion, kind: type.kind, metadata: { name, ...(objectNamespace === undefined ? {} : { namespace: objectNamespace }) } };
      next = applyPatch(base, patchType, text) as FakeKubeObject;
      if (next?.metadata?.name !== name) throw new StatusError(422, 'Invalid', `${type.kind} "${name}" is invalid: metadata.name: the patch may not change the name`);
      const sent = next.metadata.resourceVersion;
      if (current && sent !== undefined && sent !== '' && sent !== current.metadata.resourceVersion) throw conflict(qualified, name);
    }
    const hasStatus = type.subresources?.includes('status') ?? false;
    let object: FakeKubeObject;
    if (subresource === 'status') {
      object = { ...current!, ...(next.status === undefined ? {} : { status: next.status }) };
      if (next.status === undefined) delete object.status;
    } else {
      const { status: _s, ...rest } = next;
      object = hasStatus && current ? { ...rest, ...(current.status === undefined ? {} : { status: current.status }) } : hasStatus && created ? rest : next;
      object = {
        ...object,
        apiVersion,
        kind: type.kind,
        metadata: { ...object.metadata, name, ...(objectNamespace === undefined ? {} : { namespace: objectNamespace }) },
      };
      if (objectNamespace === undefined) delete object.metadata.namespace;
    }
    return send(res, created ? 201 : 200, put(collection, object, dryRun));
  };

  const conflict = (qualified: string, name: string) =>
    new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: qualified });

  const certificate = options.tls ? await selfSignedServingCertificate() : undefined;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (error instanceof StatusError) send(res, error.status, status(error.status, error.reason, error.message, error.details));
      else if (error instanceof PatchError) send(res, error.status, status(error.status, error.code, error.message));
      else if (error instanceof SelectorError) send(res, 400, status(400, 'BadRequest', error.message));
      else send(res, 500, status(500, 'InternalError', String(error)));
    });
  };
  const server: Server = certificate ? createTlsServer({ cert: certificate.certificatePem, key: certificate.keyPem }, listener) : createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `${certificate ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caData = certificate && Buffer.from(certificate.certificatePem).toString('base64');

  const closeWatches = () => {
    for (const w of watches) w.res.end();
    watches.clear();
  };
  const stop = async () => {
    closeWatches();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  /** Errors of the test API are thrown as plain errors naming what is wrong. */
  const direct = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof StatusError) throw new Error(error.message, { cause: error });
      throw error;
    }
  };

  return {
    url,
    caPem: certificate?.certificatePem,
    bearerToken,
    requests,
    kubeConfigOptions: () => ({
      clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: bearerToken }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    }),
    kubeconfig: () =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: url, ...(caData ? { 'certificate-authority-data': caData } : {}) } }],
        users: [{ name: 'fake', user: { token: bearerToken } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      }),
    apply: (object, opts) => direct(() => put(collectionOf(object.apiVersion, object.kind, opts?.plural, object.metadata.namespace !== undefined), object)),
    remove: (ref, opts) => direct(() => del(collectionOf(ref.apiVersion, ref.kind, opts?.plural, undefined), ref.namespace, ref.name) !== undefined),
    get: (ref, opts) => {
      const collection = collectionOf(ref.apiVersion, ref.kind, opts?.plural, undefined);
      const found = objectsOf(collection)?.get(keyOf(ref.namespace, ref.name));
      return found && structuredClone(asServed(collection, found));
    },
    resourceTypes: () => structuredClone(served()),
    addServiceAccountToken: (token, account) => {
      tokens.set(token, account);
    },
    setTokenReviewHandler: (handler) => {
      reviewHandler = handler;
    },
    setAccessReviewHandler: (handler) => {
      accessHandler = handler;
    },
    setServiceProxy: (service, target, proxyOptions) => {
      const key = serviceKey(service.namespace, service.name, service.port === undefined ? undefined : String(service.port));
      if (target === undefined) proxies.delete(key);
      else proxies.set(key, { url: new URL(target), ca: proxyOptions?.ca });
    },
    failRequests: (code, pattern) => {
      failure = code === undefined ? undefined : { status: code, pattern };
    },
    closeWatches,
    sendBookmarks: () => {
      for (const w of watches) if (w.bookmarks) bookmark(w);
    },
    compactHistory: (through) => {
      const rv = through === undefined ? resourceVersion : Number(through);
      if (!Number.isFinite(rv)) throw new Error(`compactHistory: resourceVersion ${JSON.stringify(through)} is not a number`);
      compactedThrough = Math.max(compactedThrough, Math.min(rv, resourceVersion));
      while (history.length > 0 && history[0]!.rv <= compactedThrough) history.shift();
    },
    resourceVersion: () => String(resourceVersion),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
