import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventDataMap } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { WorkloadRegistrationError, type RegistrationAnswer, type RegistrationRequestKind, type RegistrationTransport } from './registration-client.js';
import { WorkloadRegistrar, WorkloadRegistrarStateError, type HeartbeatResult } from './workload-registrar.js';

interface Sent {
  kind: RegistrationRequestKind;
  data: unknown;
}

/** Records requests and answers them like a destination that knows what was registered; `failWith` makes the next answers fail. */
class RecordingTransport implements RegistrationTransport {
  readonly sent: Sent[] = [];
  failWith: WorkloadRegistrationError | undefined;
  registered = false;

  async request<K extends RegistrationRequestKind>(kind: K, data: EventDataMap[K]): Promise<RegistrationAnswer> {
    this.sent.push({ kind, data });
    if (this.failWith) throw this.failWith;
    const base = { namespace: 'shop', name: 'web-9' };
    if (kind === 'workloadRegisterRequest') {
      const outcome = this.registered ? 'unchanged' : 'registered';
      this.registered = true;
      return { ...base, outcome };
    }
    if (kind === 'workloadHeartbeatRequest') {
      if (!this.registered) throw new WorkloadRegistrationError('NotRegistered', 'shop/web-9 is not registered', false);
      return { ...base, outcome: 'renewed' };
    }
    const outcome = this.registered ? 'deregistered' : 'not-registered';
    this.registered = false;
    return { ...base, outcome };
  }
}

const registration = { namespace: 'shop', name: 'web-9', address: '127.0.0.19', ports: [{ name: 'http', port: 8080 }] as [{ name: string; port: number }] };
const unavailable = new WorkloadRegistrationError('Unavailable', 'no leader', true);

describe('WorkloadRegistrar', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('registers with its token at start, then sends a heartbeat every interval', async () => {
    const transport = new RecordingTransport();
    let n = 0;
    const registrar = new WorkloadRegistrar({ transport, token: () => `token-${++n}`, registration, intervalMs: 1000, logger: silentLogger() });
    expect(await registrar.start()).toMatchObject({ outcome: 'registered' });
    expect(transport.sent).toEqual([{ kind: 'workloadRegisterRequest', data: { token: 'token-1', registration: { ...registration, heartbeatIntervalMs: 1000 } } }]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(transport.sent.slice(1)).toEqual([2, 3, 4].map((i) => ({ kind: 'workloadHeartbeatRequest', data: { token: `token-${i}`, namespace: 'shop', name: 'web-9' } })));
    await registrar.stop();
  });

  it('registers again when the destination no longer knows the workload, and keeps beating after a failure', async () => {
    const transport = new RecordingTransport();
    const results: HeartbeatResult[] = [];
    const registrar = new WorkloadRegistrar({ transport, token: () => 't', registration, intervalMs: 1000, logger: silentLogger(), onHeartbeat: (r) => results.push(r) });
    await registrar.start();
    transport.registered = false;
    await vi.advanceTimersByTimeAsync(1000);
    transport.failWith = unavailable;
    await vi.advanceTimersByTimeAsync(1000);
    transport.failWith = undefined;
    await vi.advanceTimersByTimeAsync(1000);
    expect(results.map((r) => (r.ok ? r.outcome : 'failed'))).toEqual(['registered', 'failed', 'renewed']);
    await registrar.stop();
  });

  it('retries a start while no leader answers, but not a refusal', async () => {
    const transport = new RecordingTransport();
    transport.failWith = unavailable;
    const registrar = new WorkloadRegistrar({ transport, token: () => 't', registration, logger: silentLogger() });
    const started = registrar.start();
    await vi.advanceTimersByTimeAsync(600);
    transport.failWith = undefined;
    await vi.advanceTimersByTimeAsync(1000);
    await expect(started).resolves.toMatchObject({ outcome: 'registered' });
    await registrar.stop();

    const refused = new RecordingTransport();
    refused.failWith = new WorkloadRegistrationError('PermissionDenied', 'the token is for another namespace', false, '/registration/namespace');
    const other = new WorkloadRegistrar({ transport: refused, token: () => 't', registration, logger: silentLogger() });
    await expect(other.start()).rejects.toMatchObject({ code: 'PermissionDenied', field: '/registration/namespace' });
    expect(refused.sent).toHaveLength(1);
    await expect(other.start()).rejects.toBeInstanceOf(WorkloadRegistrarStateError);
  });

  it('deregisters on stop, once, and sends nothing after it', async () => {
    const transport = new RecordingTransport();
    const registrar = new WorkloadRegistrar({ transport, token: () => 't', registration, intervalMs: 1000, logger: silentLogger() });
    await registrar.start();
    await registrar.stop('host shut down');
    await registrar.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(transport.sent.map((s) => s.kind)).toEqual(['workloadRegisterRequest', 'workloadDeregisterRequest']);
    expect(transport.sent[1]!.data).toEqual({ token: 't', namespace: 'shop', name: 'web-9', reason: 'host shut down' });
  });

  it('refuses a name that is not a DNS-1123 label before sending anything', () => {
    expect(() => new WorkloadRegistrar({ transport: new RecordingTransport(), token: () => 't', registration: { ...registration, name: 'a.b' }, logger: silentLogger() })).toThrow(
      /name "a.b" is not a DNS-1123 label/,
    );
  });
});
