/** The part of an endpoint set (endpoint-set.schema.json) this example reads. */
export interface EndpointSetData {
  namespace: string;
  service: string;
  port: number;
  endpoints: { address: string; port: number; identity?: string }[];
}

const shown = 5;

/** The first few items, and how many more there are. */
function few(items: string[]): string {
  return items.length > shown ? `${items.slice(0, shown).join(' ')} +${items.length - shown} more` : items.join(' ');
}

function hostPort(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * The endpoints of every service port seen so far, and what changed with each
 * message: a pure state machine, fed one snapshot or tombstone at a time.
 */
export class EndpointView {
  private readonly sets = new Map<string, Set<string>>();

  /** Applies a snapshot of `key` (`namespace/service/port`), returning the line that says what changed. */
  snapshot(key: string, data: EndpointSetData): string {
    const now = new Set(data.endpoints.map(hostPort));
    const before = this.sets.get(key);
    this.sets.set(key, now);
    const count = `${now.size} endpoint${now.size === 1 ? '' : 's'}`;
    if (!before) return `${key}  ${count}${now.size ? `: ${few([...now])}` : ''}`;
    const added = [...now].filter((a) => !before.has(a)).map((a) => `+${a}`);
    const removed = [...before].filter((a) => !now.has(a)).map((a) => `-${a}`);
    const changes = [...added, ...removed];
    return `${key}  ${changes.length ? few(changes) : 'unchanged'} (${count})`;
  }

  /** Applies a tombstone of `key`. */
  deleted(key: string, reason: string): string {
    this.sets.delete(key);
    return `${key}  removed: ${reason}`;
  }
}
