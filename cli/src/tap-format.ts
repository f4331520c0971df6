import type { TapEvent } from '@meshbus/bus-schemas';

const columns = [
  ['TIME', 12],
  ['DIR', 3],
  ['METHOD', 7],
  ['AUTHORITY', 28],
  ['PATH', 24],
  ['STATUS', 6],
  ['LATENCY', 8],
  ['CLIENT → SERVER', 34],
  ['TLS', 0],
] as const;

/** Control characters shown escaped: a path or authority from the network must not drive the terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function line(cells: readonly string[]): string {
  return (
    cells
      .map((c, i) => {
        const width = columns[i]?.[1] ?? 0;
        return width > 0 ? c.padEnd(width) : c;
      })
      .join('  ')
      .trimEnd() + '\n'
  );
}

/** The header line of the human format. */
export function tapTableHeader(): string {
  return line(columns.map(([name]) => name));
}

/** `shop/web` for a mesh identity `web.shop.serviceaccount.identity.<domain>`, else the identity; `-` when empty. */
export function shortIdentity(identity: string): string {
  if (identity === '') return '-';
  const m = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\./.exec(identity);
  return m ? `${m[2]}/${m[1]}` : printable(identity);
}

/** Who called whom: for an inbound record the peer is the client, for an outbound one the server. */
export function clientToServer(event: Pick<TapEvent, 'direction' | 'identity' | 'peerIdentity'>): string {
  const self = shortIdentity(event.identity);
  const peer = shortIdentity(event.peerIdentity);
  return event.direction === 'inbound' ? `${peer} → ${self}` : `${self} → ${peer}`;
}

/** The time of day (UTC, milliseconds) a request started, from its RFC 3339 time. */
function timeOfDay(startedAt: string): string {
  const m = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(startedAt);
  return m ? m[1]!.padEnd(12, m[1]!.includes('.') ? '0' : ' ') : startedAt;
}

/** One tapped request as a line of the human format. */
export function formatTapLine(event: TapEvent): string {
  return line([
    timeOfDay(event.startedAt),
    event.direction === 'inbound' ? 'in' : 'out',
    printable(event.method),
    printable(event.authority),
    printable(event.path),
    event.status === 0 ? '-' : String(event.status),
    `${event.latencyMs}ms`,
    clientToServer(event),
    event.tls ? 'tls' : 'plain',
  ]);
}

/** One tapped request as a line of JSON: the record's data as the gateway published it. */
export function formatTapJson(event: TapEvent): string {
  return JSON.stringify(event) + '\n';
}
