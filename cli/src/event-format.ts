import type { BusEvent } from '@meshbus/bus';
import { catalog, schemaUri, type EventKind } from '@meshbus/bus-schemas';
import { formatDuration } from './flags.js';

const typePrefix = 'io.meshbus.v1.';
const typeWidth = 22;
const maxAddresses = 5;

function isKind<K extends EventKind>(event: BusEvent, kind: K): event is BusEvent<K> {
  return event.kind === kind;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function labelList(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function compactJson(data: unknown, max = 160): string {
  const text = JSON.stringify(data);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A few words on what an event says, for the one-line human format. */
export function summarizeEvent(event: BusEvent): string {
  if (isKind(event, 'endpointSet')) {
    const { endpoints, opaque } = event.data;
    if (endpoints.length === 0) return `no endpoints${opaque ? ' (opaque)' : ''}`;
    const shown = endpoints.slice(0, maxAddresses).map((e) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`));
    const more = endpoints.length > maxAddresses ? ` +${endpoints.length - maxAddresses} more` : '';
    return `${plural(endpoints.length, 'endpoint')}: ${shown.join(' ')}${more}${opaque ? ' (opaque)' : ''}`;
  }
  if (isKind(event, 'serviceProfile')) {
    const d = event.data;
    const parts = [plural(d.routes.length, 'route')];
    if (d.retryBudget) parts.push(`retry ratio ${d.retryBudget.retryRatio}`);
    if (d.dstOverrides.length > 0) parts.push(`split ${d.dstOverrides.map((o) => `${o.authority}=${o.weight}`).join(' ')}`);
    if (d.opaquePorts.length > 0) parts.push(`opaque ports ${d.opaquePorts.join(',')}`);
    return parts.join(', ');
  }
  if (isKind(event, 'workloadRegistered')) {
    const d = event.data;
    const parts = [d.address, `ports ${d.ports.map((p) => (p.name ? `${p.name}=${p.port}` : String(p.port))).join(',')}`];
    if (d.serviceAccount) parts.push(`sa=${d.serviceAccount}`);
    if (d.zone) parts.push(`zone=${d.zone}`);
    const labels = labelList(d.labels);
    if (labels) parts.push(`labels ${labels}`);
    if (d.ready === false) parts.push('not ready');
    if (d.meshed === false) parts.push('not meshed');
    parts.push(`heartbeat ${formatDuration(d.heartbeatIntervalMs)}`);
    return parts.join(' ');
  }
  if (isKind(event, 'endpointSetDeleted') || isKind(event, 'serviceProfileDeleted') || isKind(event, 'workloadDeregistered')) {
    return `deleted: ${event.data.reason}`;
  }
  if (isKind(event, 'manifestRejected')) {
    const d = event.data;
    const resource = d.kind ? ` ${d.kind}${d.name ? ` ${d.namespace ? `${d.namespace}/` : ''}${d.name}` : ''}` : '';
    return `${d.file}${resource}: ${d.reason}`;
  }
  if (isKind(event, 'leaderChanged')) {
    return `${event.data.role} leader is now ${event.data.holder} (term ${event.data.term})`;
  }
  if (isKind(event, 'workloadExpired')) {
    return `${event.data.namespace}/${event.data.name} missed its heartbeats (last ${event.data.lastHeartbeat})`;
  }
  if (isKind(event, 'trustBundle')) {
    return `trust domain ${event.data.trustDomain}, ${plural(event.data.anchors.length, 'anchor')}`;
  }
  if (isKind(event, 'certificateIssued')) {
    return `${event.data.identity} serial ${event.data.serial} until ${event.data.notAfter} by ${event.data.replica}`;
  }
  if (isKind(event, 'issuerUpdated')) {
    return `${event.data.replica} signs with ${event.data.subject} serial ${event.data.serial} until ${event.data.notAfter}`;
  }
  if (isKind(event, 'issuerRefused')) {
    return `${event.data.replica} refused ${event.data.source}: ${event.data.reason}`;
  }
  if (isKind(event, 'podInjection')) {
    const d = event.data;
    const pod = `${d.namespace}/${d.name ?? `${d.generateName ?? ''}*`}`;
    const owner = d.owner ? ` of ${d.owner.kind} ${d.owner.name}` : '';
    const version = d.result === 'injected' ? ` proxy ${d.proxyVersion}` : '';
    const dryRun = d.dryRun ? ' (dry run)' : '';
    return `${d.result} ${pod}${owner}${version}${dryRun}: ${d.reason.code}: ${d.reason.message}`;
  }
  if (isKind(event, 'metricsSummary')) {
    const d = event.data;
    let success = 0;
    let failure = 0;
    for (const r of d.requests) {
      success += r.success;
      failure += r.failure;
    }
    const open = d.tcp.reduce((n, t) => n + t.open, 0);
    return `${d.namespace}/${d.workload} ${d.instance || '-'} ${d.intervalMs / 1000}s: ${plural(success + failure, 'request')}, ${failure} failed, ${plural(open, 'open connection')}`;
  }
  return compactJson(event.data);
}

const columns = [
  { title: 'TIME', width: 24 },
  { title: 'SEQ', width: 10 },
  { title: 'TYPE', width: typeWidth },
  { title: 'SUBJECT', width: 28 },
  { title: 'SUMMARY', width: 0 },
] as const;

function row(cells: readonly string[]): string {
  return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(columns[i]!.width))).join('  ').trimEnd() + '\n';
}

/** The header line of the table form. */
export function eventTableHeader(): string {
  return row(columns.map((c) => c.title));
}

/** Where an event was read: the stream's short name and the sequence in it, e.g. `events:12`. */
export function streamPosition(stream: string, seq: number | undefined): string {
  const short = stream.replace(/^MESHBUS_/, '').toLowerCase();
  return seq === undefined ? short : `${short}:${seq}`;
}

/** One row of the table form: time, stream and sequence, short type, CloudEvents subject, summary. */
export function formatEventLine(event: BusEvent, stream: string): string {
  const type = event.type.startsWith(typePrefix) ? event.type.slice(typePrefix.length) : event.type;
  return row([event.time, streamPosition(stream, event.seq), type, event.subject || '-', summarizeEvent(event)]);
}

/**
 * The event in the CloudEvents JSON format (attributes and data), with the
 * NATS subject, stream and sequence it was read from as extension attributes.
 */
export function eventJson(event: BusEvent, stream: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.time,
    subject: event.subject,
    datacontenttype: 'application/json',
    dataschema: schemaUri(catalog[event.kind].schema),
    natssubject: event.natsSubject,
    stream,
  };
  if (event.seq !== undefined) json.sequence = event.seq;
  json.data = event.data;
  return json;
}
