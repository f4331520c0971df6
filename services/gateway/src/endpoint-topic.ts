import { destination } from '@meshbus/proxy-api';
import type { Endpoint, EndpointSet } from '@meshbus/bus-schemas';
import { endpointKey, setLabels, toWeightedAddr } from './translate.js';
import type { Snapshot } from './watch-topic.js';

/** The endpoint set of a service port as streams see it. */
export interface EndpointSnapshot extends Snapshot {
  /** False when the service port does not exist. */
  readonly exists: boolean;
  readonly endpoints: ReadonlyMap<string, { addr: destination.WeightedAddr; fingerprint: string }>;
  readonly labels: Record<string, string>;
  readonly labelsFingerprint: string;
}

/** What identifies an endpoint's answer: equal fingerprints give a proxy the same address. */
export const endpointFingerprint = (e: Endpoint): string => JSON.stringify(e);

/** Builds the snapshot of an endpoint set (or of a missing service when `set` is undefined). */
export function endpointSnapshot(version: number, set: EndpointSet | undefined): EndpointSnapshot {
  const endpoints = new Map<string, { addr: destination.WeightedAddr; fingerprint: string }>();
  for (const e of set?.endpoints ?? []) endpoints.set(endpointKey(e), { addr: toWeightedAddr(e), fingerprint: endpointFingerprint(e) });
  const labels = set ? setLabels(set) : {};
  return { version, exists: set !== undefined, endpoints, labels, labelsFingerprint: JSON.stringify(labels) };
}

/** The snapshot of a destination that is one address (`key` as {@link endpointKey} writes it). */
export function singleEndpointSnapshot(version: number, key: string, addr: destination.WeightedAddr, fingerprint: string, labels: Record<string, string>): EndpointSnapshot {
  return { version, exists: true, endpoints: new Map([[key, { addr, fingerprint }]]), labels, labelsFingerprint: JSON.stringify(labels) };
}

/** Whether two snapshots give a proxy the same endpoints (so that going from one to the other sends nothing). */
export function sameEndpoints(a: EndpointSnapshot, b: EndpointSnapshot): boolean {
  if (a.exists !== b.exists || a.labelsFingerprint !== b.labelsFingerprint || a.endpoints.size !== b.endpoints.size) return false;
  for (const [k, v] of a.endpoints) if (b.endpoints.get(k)?.fingerprint !== v.fingerprint) return false;
  return true;
}

const encode = (u: destination.Update) => Buffer.from(destination.Update.encode(u).finish());

/**
 * Addresses per `add` or `remove` update. Proxies accept gRPC messages of
 * 4 MB by default; a thousand addresses with identity and labels take about
 * 200 KB, so a service of any size reaches them in pieces that fit.
 */
export const addressesPerUpdate = 1000;

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += addressesPerUpdate) out.push(xs.slice(i, i + addressesPerUpdate));
  return out;
}

const adds = (addrs: destination.WeightedAddr[], metricLabels: Record<string, string>) =>
  chunks(addrs).map((part) => encode({ update: { $case: 'add', add: { addrs: part, metricLabels } } }));
const removes = (addrs: NonNullable<destination.WeightedAddr['addr']>[]) => chunks(addrs).map((part) => encode({ update: { $case: 'remove', remove: { addrs: part } } }));

/**
 * The Destination.Get updates that take a proxy from `from` to `to`: the full
 * set first (or no_endpoints), then removals and additions, each in updates of
 * at most {@link addressesPerUpdate} addresses. An endpoint whose metadata
 * changed is sent again in `add`, which replaces it; when the set-level
 * labels change, every endpoint is sent again (after the removals).
 */
export function endpointTransition(from: EndpointSnapshot | undefined, to: EndpointSnapshot): Buffer[] {
  if (!to.exists) return [encode({ update: { $case: 'noEndpoints', noEndpoints: { exists: false } } })];
  if (to.endpoints.size === 0) return [encode({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } })];
  const all = () => adds([...to.endpoints.values()].map((v) => v.addr), to.labels);
  if (!from || !from.exists || from.endpoints.size === 0) return all();
  const removed: destination.WeightedAddr[] = [];
  for (const [k, v] of from.endpoints) if (!to.endpoints.has(k)) removed.push(v.addr);
  if (from.labelsFingerprint !== to.labelsFingerprint) return [...removes(removed.map((a) => a.addr!)), ...all()];
  const added: destination.WeightedAddr[] = [];
  for (const [k, v] of to.endpoints) if (from.endpoints.get(k)?.fingerprint !== v.fingerprint) added.push(v.addr);
  return [...removes(removed.map((a) => a.addr!)), ...adds(added, to.labels)];
}
