import type { EndpointChange, EndpointSetView, EndpointView } from './endpoint-set.js';
import { formatTable } from './table.js';

const byAddress = (a: EndpointView, b: EndpointView) => a.address.localeCompare(b.address, 'en', { numeric: true });

function hint(e: EndpointView): string {
  return e.opaqueTransportPort ? `${e.protocolHint} (transport ${e.opaqueTransportPort})` : e.protocolHint;
}

function labelList(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function countText(n: number): string {
  return n === 1 ? '1 endpoint' : `${n} endpoints`;
}

/** The heading printed above the table: destination, gateway and how many endpoints. */
export function formatEndpointHeading(path: string, gateway: string, set: EndpointSetView): string {
  const state = set.exists === false ? 'unknown to the mesh' : countText(set.endpoints.size);
  const labels = labelList(set.labels);
  return `${path} via ${gateway}: ${state}${labels ? ` (labels ${labels})` : ''}\n`;
}

/** The endpoint set as a table: address, weight, identity, protocol hint, zone, labels. */
export function formatEndpointTable(set: EndpointSetView): string {
  if (set.endpoints.size === 0) {
    return set.exists === false ? 'no such destination: a proxy would fall back to DNS\n' : 'no endpoints (the service exists but none is ready)\n';
  }
  const rows = [...set.endpoints.values()]
    .sort(byAddress)
    .map((e) => [e.address, String(e.weight), e.identity ?? '-', hint(e), e.zone ?? '-', labelList(e.labels) || '-']);
  return formatTable(['ADDRESS', 'WEIGHT', 'IDENTITY', 'HINT', 'ZONE', 'LABELS'], rows);
}

function endpointDetails(e: EndpointView): string {
  const parts = [`weight=${e.weight}`, `identity=${e.identity ?? '-'}`, `hint=${hint(e).replace(' ', '')}`];
  if (e.zone) parts.push(`zone=${e.zone}`);
  const labels = labelList(e.labels);
  if (labels) parts.push(`labels=${labels}`);
  return parts.join(' ');
}

/** One line per endpoint affected by a change, each with the time and the set size after it. */
export function formatChange(change: EndpointChange, time: Date, sizeAfter: number): string {
  const t = time.toISOString();
  const size = `[${countText(sizeAfter)}]`;
  switch (change.kind) {
    case 'add':
      return [...change.endpoints].sort(byAddress).map((e) => `${t}  + ${e.address}  ${endpointDetails(e)}  ${size}\n`).join('');
    case 'remove':
      return change.addresses.map((a) => `${t}  - ${a}  ${size}\n`).join('');
    case 'noEndpoints':
      return (
        change.removed.map((a) => `${t}  - ${a}\n`).join('') +
        `${t}  no endpoints (${change.exists ? 'the service exists but none is ready' : 'no such destination'})  ${size}\n`
      );
  }
}

/** The set as a JSON value. */
export function endpointSetJson(set: EndpointSetView): { exists: boolean | undefined; labels: Record<string, string>; endpoints: EndpointView[] } {
  return { exists: set.exists, labels: set.labels, endpoints: [...set.endpoints.values()].sort(byAddress) };
}

/** One update as a JSON line: what changed, and the size of the set after it. */
export function changeJson(change: EndpointChange, time: Date, sizeAfter: number): Record<string, unknown> {
  const base = { time: time.toISOString(), update: change.kind };
  switch (change.kind) {
    case 'add':
      return { ...base, endpoints: change.endpoints, size: sizeAfter };
    case 'remove':
      return { ...base, addresses: change.addresses, size: sizeAfter };
    case 'noEndpoints':
      return { ...base, exists: change.exists, addresses: change.removed, size: sizeAfter };
  }
}
