import { Counter, Gauge, type Registry } from '@meshbus/runtime';

/** Bus metrics shared by every reader of one process. */
export interface BusMetrics {
  rejected: Counter<'reason' | 'stream'>;
  received: Counter<'stream'>;
  resyncs: Counter<'stream'>;
  lag: Gauge<'stream'>;
  fenced: Counter<'stream' | 'role'>;
}

const byRegistry = new WeakMap<Registry, BusMetrics>();

/** The bus metrics registered in `registry` (created once per registry). */
export function busMetrics(registry: Registry): BusMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = {
      rejected: new Counter({
        name: 'meshbus_bus_rejected_messages_total',
        help: 'Bus messages dropped because they are not valid meshbus CloudEvents, by reason.',
        labelNames: ['reason', 'stream'],
        registers: [registry],
      }),
      received: new Counter({
        name: 'meshbus_bus_received_messages_total',
        help: 'Valid bus messages received, by stream.',
        labelNames: ['stream'],
        registers: [registry],
      }),
      resyncs: new Counter({
        name: 'meshbus_bus_resyncs_total',
        help: 'Times a reader rebuilt its view from the start of a stream (stream recreated).',
        labelNames: ['stream'],
        registers: [registry],
      }),
      fenced: new Counter({
        name: 'meshbus_bus_fenced_writes_total',
        help: 'State writes ignored because their writer term is lower than one already seen from the same role (a deposed leader).',
        labelNames: ['stream', 'role'],
        registers: [registry],
      }),
      lag: new Gauge({
        name: 'meshbus_bus_pending_messages',
        help: 'Messages in the stream not yet read by this process.',
        labelNames: ['stream'],
        registers: [registry],
      }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
