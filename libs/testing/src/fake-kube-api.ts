import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Kubernetes object as stored by {@link FakeKubeApi}: anything with `apiVersion`, `kind` and `metadata.name`. */
export interface FakeKubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

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

/** One request the fake received. */
export interface FakeKubeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

/** Options of {@link startFakeKubeApi}. */
export interface FakeKubeApiOptions {
  /** Bearer token clients must send. @default 'fake-kube-api-token' */
  bearerToken?: string;
  /** Watch events kept for watches resuming from a resourceVersion; older ones get 410 Gone. @default 1000 */
  historyLimit?: number;
}

/** Which objects a list or watch asks for. */
interface Query {
  collection: string;
  namespace: string | undefined;
  fieldSelector: Selector;
  labelSelector: Selector;
}

type Selector = (object: FakeKubeObject) => boolean;

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
  res: ServerResponse;
}

/**
 * A small Kubernetes API server for tests, speaking the real wire protocol that
 * `@kubernetes/client-node` (or kubectl) uses, over plain HTTP on 127.0.0.1:
 *
 * - list, get and watch of any namespaced or cluster-scoped resource under `/api/v1` and
 *   `/apis/<group>/<version>`: `fieldSelector` on `metadata.name`/`metadata.namespace`,
 *   equality and existence `labelSelector`s, `?watch=1` as chunked JSON lines of
 *   `{"type":"ADDED|MODIFIED|DELETED","object":...}`, resuming from `resourceVersion` (410 Gone
 *   with an ERROR event when it is older than the kept history), `timeoutSeconds`;
 * - create (POST), replace (PUT) and delete (DELETE) of objects;
 * - `POST /apis/authentication.k8s.io/v1/tokenreviews`, answered for the tokens registered with
 *   {@link FakeKubeApi.addServiceAccountToken} with the API server's audience rules;
 * - bearer-token authentication.
 *
 * Tests change objects directly with {@link FakeKubeApi.apply} and {@link FakeKubeApi.remove};
 * open watches see the change as a real API server would send it.
 */
export interface FakeKubeApi extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly bearerToken: string;
  /** Every request received, oldest first. */
  readonly requests: readonly FakeKubeRequest[];
  /** Options for `KubeConfig.loadFromOptions()`. */
  kubeConfigOptions(): Record<string, unknown>;
  /** A kubeconfig file's content (JSON, which is YAML), for `KUBECONFIG` or `loadFromFile()`. */
  kubeconfig(): string;
  /** Creates or replaces an object; returns it as stored (with resourceVersion and uid). */
  apply(object: FakeKubeObject, options?: { plural?: string }): FakeKubeObject;
  /** Deletes an object; false when there was none. */
  remove(ref: { apiVersion: string; kind: string; namespace?: string; name: string }, options?: { plural?: string }): boolean;
  /** The stored object, if any. */
  get(ref: { apiVersion: string; kind: string; namespace?: string; name: string }, options?: { plural?: string }): FakeKubeObject | undefined;
  /** Makes TokenReview authenticate `token` as a service account. */
  addServiceAccountToken(token: string, account: FakeServiceAccountToken): void;
  /** Replaces the TokenReview logic (for errors and odd answers). */
  setTokenReviewHandler(handler: ((token: string, audiences: string[]) => FakeTokenReviewStatus) | undefined): void;
  /** Answers every request whose path matches with this HTTP status (an outage, missing RBAC); undefined ends it. */
  failRequests(status: number | undefined, pathPattern?: RegExp): void;
  /** Ends every open watch; clients re-watch from the last resourceVersion they saw. */
  closeWatches(): void;
  /** Drops the kept watch history: a watch resuming from an older resourceVersion gets 410 Gone and must relist. */
  compactHistory(): void;
  stop(): Promise<void>;
}

const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc';

/** Kinds of common built-in collections, for objects created over HTTP without `kind`. */
const BUILT_IN_KINDS: Record<string, string> = {
  '/api/v1|configmaps': 'ConfigMap',
  '/api/v1|endpoints': 'Endpoints',
  '/api/v1|events': 'Event',
  '/api/v1|namespaces': 'Namespace',
  '/api/v1|nodes': 'Node',
  '/api/v1|pods': 'Pod',
  '/api/v1|secrets': 'Secret',
  '/api/v1|serviceaccounts': 'ServiceAccount',
  '/api/v1|services': 'Service',
  '/apis/discovery.k8s.io/v1|endpointslices': 'EndpointSlice',
};

/** The lowercase plural a Kubernetes kind is served under (Secret → secrets, NetworkPolicy → networkpolicies). */
export function kindPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('s')) return lower;
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function parseSelector(text: string | undefined, field: boolean): Selector {
  if (!text) return () => true;
  const terms = text.split(',').map((t) => t.trim()).filter(Boolean);
  const tests = terms.map((term): Selector => {
    const m = /^(!?)([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?$/.exec(term);
    if (!m) throw new Error(`unsupported selector ${JSON.stringify(term)}`);
    const [, not, key = '', op, value = ''] = m;
    const read = (o: FakeKubeObject): string | undefined => {
      if (!field) return o.metadata.labels?.[key];
      if (key === 'metadata.name') return o.metadata.name;
      if (key === 'metadata.namespace') return o.metadata.namespace ?? '';
      throw new Error(`unsupported field selector ${key}`);
    };
    if (op === undefined) {
      if (field) throw new Error(`field selector ${JSON.stringify(term)} needs a value`);
      return (o) => (read(o) !== undefined) !== (not === '!');
    }
    if (not === '!') throw new Error(`unsupported selector ${JSON.stringify(term)}`);
    return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => tests.every((t) => t(o));
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

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Starts a {@link FakeKubeApi} on a free port of 127.0.0.1. */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const bearerToken = options.bearerToken ?? 'fake-kube-api-token';
  const historyLimit = options.historyLimit ?? 1000;
  /** collection (`<prefix>|<plural>`) → `<namespace>/<name>` → object */
  const store = new Map<string, Map<string, FakeKubeObject>>();
  const kinds = new Map<string, { apiVersion: string; kind: string }>();
  const history: WatchEvent[] = [];
  const watches = new Set<OpenWatch>();
  const requests: FakeKubeRequest[] = [];
  const tokens = new Map<string, FakeServiceAccountToken>();
  let reviewHandler: ((token: string, audiences: string[]) => FakeTokenReviewStatus) | undefined;
  let failure: { status: number; pattern: RegExp | undefined } | undefined;
  let resourceVersion = 1;
  let compactedThrough = 0;

  const collectionOf = (apiVersion: string, kind: string, plural?: string) => {
    const collection = `${apiPrefix(apiVersion)}|${plural ?? kindPlural(kind)}`;
    kinds.set(collection, { apiVersion, kind });
    return collection;
  };
  const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

  const record = (collection: string, old: FakeKubeObject | undefined, object: FakeKubeObject, deleted: boolean) => {
    const event: WatchEvent = { rv: Number(object.metadata.resourceVersion), collection, old, object, deleted };
    history.push(event);
    while (history.length > historyLimit) compactedThrough = history.shift()!.rv;
    for (const w of watches) {
      const e = eventFor(w.query, event);
      if (e) w.res.write(`${JSON.stringify(e)}\n`);
    }
  };

  const put = (collection: string, object: FakeKubeObject): FakeKubeObject => {
    const objects = store.get(collection) ?? new Map<string, FakeKubeObject>();
    store.set(collection, objects);
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    const old = objects.get(key);
    const rv = ++resourceVersion;
    const stored: FakeKubeObject = structuredClone({
      ...object,
      metadata: {
        ...object.metadata,
        resourceVersion: String(rv),
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    });
    objects.set(key, stored);
    record(collection, old, stored, false);
    return structuredClone(stored);
  };

  const del = (collection: string, namespace: string | undefined, name: string): FakeKubeObject | undefined => {
    const objects = store.get(collection);
    const key = keyOf(namespace, name);
    const old = objects?.get(key);
    if (!objects || !old) return undefined;
    objects.delete(key);
    const rv = ++resourceVersion;
    const gone = structuredClone({ ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } });
    record(collection, old, gone, true);
    return gone;
  };

  const list = (query: Query): FakeKubeObject[] =>
    [...(store.get(query.collection)?.values() ?? [])].filter((o) => matches(query, o)).map((o) => structuredClone(o));

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

  /** `/api/v1/...` or `/apis/<group>/<version>/...` → prefix and the segments after it. */
  const route = (path: string): { prefix: string; rest: string[] } | undefined => {
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (segments[0] === 'api' && segments.length >= 2) return { prefix: `/api/${segments[1]}`, rest: segments.slice(2) };
    if (segments[0] === 'apis' && segments.length >= 3) return { prefix: `/apis/${segments[1]}/${segments[2]}`, rest: segments.slice(3) };
    return undefined;
  };

  const serveWatch = (req: IncomingMessage, res: ServerResponse, query: Query, from: string | undefined, timeoutSeconds: number | undefined) => {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const start = from === undefined || from === '' || from === '0' ? undefined : Number(from);
    if (start === undefined) {
      for (const object of list(query)) res.write(`${JSON.stringify({ type: 'ADDED', object })}\n`);
    } else if (!Number.isFinite(start) || start < compactedThrough) {
      const gone = status(410, 'Expired', `too old resource version: ${from} (${compactedThrough})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    } else {
      for (const event of history) {
        if (event.rv <= start) continue;
        const e = eventFor(query, event);
        if (e) res.write(`${JSON.stringify(e)}\n`);
      }
    }
    const open: OpenWatch = { query, res };
    watches.add(open);
    const timer = timeoutSeconds === undefined ? undefined : setTimeout(() => res.end(), timeoutSeconds * 1000);
    const close = () => {
      clearTimeout(timer);
      watches.delete(open);
    };
    req.on('close', close);
    res.on('close', close);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname, query });
    if (req.headers.authorization !== `Bearer ${bearerToken}`) {
      send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (failure && (!failure.pattern || failure.pattern.test(url.pathname))) {
      send(res, failure.status, status(failure.status, 'InternalError', `fake API server answers ${failure.status}`));
      return;
    }
    if (method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const review = (await readBody(req)) as { spec?: { token?: string; audiences?: string[] } } | undefined;
      if (!review?.spec?.token) {
        send(res, 400, status(400, 'BadRequest', 'TokenReview spec.token is required'));
        return;
      }
      const answer = reviewToken(review.spec.token, review.spec.audiences ?? []);
      send(res, 201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec, status: answer });
      return;
    }
    const r = route(url.pathname);
    if (!r || r.rest.length === 0) {
      send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    if (r.rest[0] === 'namespaces' && r.rest.length >= 3) {
      [, namespace, plural = '', name] = r.rest as [string, string, string, string | undefined];
    } else {
      [plural = '', name] = r.rest as [string, string | undefined];
    }
    const collection = `${r.prefix}|${plural}`;
    const type = kinds.get(collection) ?? { apiVersion: r.prefix.replace(/^\/apis?\//, ''), kind: BUILT_IN_KINDS[collection] ?? plural };

    if (method === 'GET' && name === undefined) {
      let q: Query;
      try {
        q = { collection, namespace, fieldSelector: parseSelector(query.fieldSelector, true), labelSelector: parseSelector(query.labelSelector, false) };
      } catch (error) {
        send(res, 400, status(400, 'BadRequest', (error as Error).message));
        return;
      }
      if (query.watch === 'true' || query.watch === '1') {
        serveWatch(req, res, q, query.resourceVersion, query.timeoutSeconds ? Number(query.timeoutSeconds) : undefined);
        return;
      }
      const items = list(q).map(({ apiVersion: _a, kind: _k, ...item }) => item);
      send(res, 200, { kind: `${type.kind}List`, apiVersion: type.apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items });
      return;
    }
    const notFound = () => send(res, 404, status(404, 'NotFound', `${plural} "${name ?? ''}" not found`));
    if (method === 'GET') {
      const found = store.get(collection)?.get(keyOf(namespace, name!));
      if (found) send(res, 200, found);
      else notFound();
      return;
    }
    if (method === 'DELETE' && name !== undefined) {
      const gone = del(collection, namespace, name);
      if (gone) send(res, 200, gone);
      else notFound();
      return;
    }
    if ((method === 'POST' && name === undefined) || (method === 'PUT' && name !== undefined)) {
      const body = (await readBody(req)) as FakeKubeObject | undefined;
      if (!body?.metadata?.name || (name !== undefined && body.metadata.name !== name)) {
        send(res, 400, status(400, 'BadRequest', 'metadata.name is missing or does not match the path'));
        return;
      }
      const exists = store.get(collection)?.has(keyOf(namespace, body.metadata.name)) ?? false;
      if (method === 'POST' && exists) {
        send(res, 409, status(409, 'AlreadyExists', `${plural} "${body.metadata.name}" already exists`));
        return;
      }
      if (method === 'PUT' && !exists) {
        notFound();
        return;
      }
      kinds.set(collection, { apiVersion: body.apiVersion ?? type.apiVersion, kind: body.kind ?? type.kind });
      const object = put(collection, { ...body, apiVersion: body.apiVersion ?? type.apiVersion, kind: body.kind ?? type.kind, metadata: { ...body.metadata, ...(namespace === undefined ? {} : { namespace }) } });
      send(res, method === 'POST' ? 201 : 200, object);
      return;
    }
    send(res, 405, status(405, 'MethodNotAllowed', `${method} is not supported here`));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, status(500, 'InternalError', String(error)));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const closeWatches = () => {
    for (const w of watches) w.res.end();
    watches.clear();
  };
  const stop = async () => {
    closeWatches();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    url,
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
        clusters: [{ name: 'fake', cluster: { server: url } }],
        users: [{ name: 'fake', user: { token: bearerToken } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      }),
    apply: (object, opts) => put(collectionOf(object.apiVersion, object.kind, opts?.plural), object),
    remove: (ref, opts) => del(collectionOf(ref.apiVersion, ref.kind, opts?.plural), ref.namespace, ref.name) !== undefined,
    get: (ref, opts) => {
      const found = store.get(collectionOf(ref.apiVersion, ref.kind, opts?.plural))?.get(keyOf(ref.namespace, ref.name));
      return found && structuredClone(found);
    },
    addServiceAccountToken: (token, account) => {
      tokens.set(token, account);
    },
    setTokenReviewHandler: (handler) => {
      reviewHandler = handler;
    },
    failRequests: (code, pattern) => {
      failure = code === undefined ? undefined : { status: code, pattern };
    },
    closeWatches,
    compactHistory: () => {
      compactedThrough = resourceVersion;
      history.length = 0;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
