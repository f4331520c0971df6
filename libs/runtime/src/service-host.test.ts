import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { ReadinessChecks } from './readiness.js';
import { ServiceHost, type HostConnection } from './service-host.js';

/** A hand-written connection seam: up or down as the test says, counting releases. */
class TestConnection implements HostConnection<string> {
  readonly client = 'client';
  connected = true;
  released = 0;
  private readonly listeners: (() => void)[] = [];
  onReconnect(listener: () => void): void {
    this.listeners.push(listener);
  }
  reconnect(): void {
    this.connected = true;
    for (const l of this.listeners) l();
  }
  async release(): Promise<void> {
    this.released++;
  }
}

/** A JSON logger whose lines the test reads. */
function capturingLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level, destination }), lines };
}

async function http(method: string, url: string, body?: string): Promise<{ status: number; body: string; allow?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ...(res.headers.allow ? { allow: res.headers.allow } : {}) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('ServiceHost', () => {
  const hosts: ServiceHost<string>[] = [];
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.stop();
  });

  function makeHost(conn = new TestConnection(), logger = capturingLogger().logger): ServiceHost<string> {
    const host = new ServiceHost({
      service: 'test',
      replicaId: 'test-1',
      admin: { host: '127.0.0.1', port: 0 },
      logger,
      registry: createMetricsRegistry('test', { processMetrics: false }),
      connect: async () => conn,
    });
    hosts.push(host);
    return host;
  }

  it('goes initialized → started → destroyed, releasing what it acquired in reverse order, once', async () => {
    const conn = new TestConnection();
    const host = makeHost(conn);
    const order: string[] = [];
    expect(host.state).toBe('initialized');
    await host.start(async (client) => {
      expect(client).toBe('client');
      host.resources.defer('a', () => order.push('a'));
      host.resources.defer('b', () => order.push('b'));
    });
    expect(host.state).toBe('started');
    await expect(host.start(async () => undefined)).rejects.toThrow(/cannot start a started test service/);
    await host.stop(async () => {
      order.push('drain');
    });
    await host.stop();
    expect(host.state).toBe('destroyed');
    expect(order).toEqual(['drain', 'b', 'a']);
    expect(conn.released).toBe(1);
  });

  it('releases what start-up acquired after a stop that came while starting', async () => {
    const conn = new TestConnection();
    const host = makeHost(conn);
    let released = false;
    await host.start(async () => {
      await host.stop();
      host.resources.defer(null, () => (released = true));
    });
    expect(host.state).toBe('destroyed');
    expect(released).toBe(true);
    expect(conn.released).toBe(1);
  });

  it('is ready only when every named check passes, and says why not over /ready', async () => {
    const conn = new TestConnection();
    const host = makeHost(conn);
    let synced = false;
    host.readiness.add('state', () => (synced ? undefined : 'bus state not synced'));
    expect(host.ready()).toEqual({ ready: false, reasons: ['not started', 'not connected to NATS', 'bus state not synced'] });
    await host.start(async () => undefined);
    expect(await http('GET', `${host.adminUrl}/ready`)).toEqual({ status: 503, body: 'not ready: bus state not synced\n' });
    synced = true;
    expect(await http('GET', `${host.adminUrl}/ready`)).toEqual({ status: 200, body: 'ready\n' });
    conn.connected = false;
    expect(await http('GET', `${host.adminUrl}/ready`)).toEqual({ status: 503, body: 'not ready: not connected to NATS\n' });
    expect((await http('GET', `${host.adminUrl}/live`)).status).toBe(200);
    let reconnected = 0;
    host.onReconnect(() => reconnected++);
    conn.reconnect();
    expect(reconnected).toBe(1);
    await host.stop();
    expect(host.ready()).toEqual({ ready: false, reasons: ['shutting down'] });
  });

  it('changes the level of every component logger over PUT /log-level, and refuses a bad level', async () => {
    const { logger, lines } = capturingLogger('info');
    const host = makeHost(new TestConnection(), logger);
    await host.start(async () => undefined);
    const component = host.logger.child({ component: 'deep' }).child({ part: 'deeper' });
    component.debug('hidden');
    expect(await http('GET', `${host.adminUrl}/log-level`)).toEqual({ status: 200, body: 'info\n' });

    expect(await http('PUT', `${host.adminUrl}/log-level`, 'debug\n')).toEqual({ status: 200, body: 'debug\n' });
    component.debug('shown');
    expect(await http('GET', `${host.adminUrl}/log-level`)).toEqual({ status: 200, body: 'debug\n' });
    expect(lines.map((l) => l.msg)).toContain('shown');
    expect(lines.map((l) => l.msg)).not.toContain('hidden');
    expect(lines.find((l) => l.msg === 'log level changed')).toMatchObject({ from: 'info', to: 'debug', replica: 'test-1', component: 'admin' });

    const bad = await http('PUT', `${host.adminUrl}/log-level`, 'verbose');
    expect(bad.status).toBe(400);
    expect(bad.body).toBe('unknown log level "verbose": send one of fatal, error, warn, info, debug, trace, silent\n');
    expect((await http('PUT', `${host.adminUrl}/log-level`, '')).body).toMatch(/^no log level given: send one of/);
    expect((await http('PUT', `${host.adminUrl}/log-level`, 'x'.repeat(1000))).status).toBe(413);
    expect(await http('POST', `${host.adminUrl}/log-level`, 'debug')).toMatchObject({ status: 405, allow: 'GET, HEAD, PUT' });
    expect(await http('GET', `${host.adminUrl}/log-level`)).toEqual({ status: 200, body: 'debug\n' });

    // Down to warn: the change is still said, at the old level.
    expect((await http('PUT', `${host.adminUrl}/log-level`, 'WARN')).status).toBe(200);
    component.info('quiet now');
    expect(lines.map((l) => l.msg)).not.toContain('quiet now');
    expect(lines.filter((l) => l.msg === 'log level changed').map((l) => l.to)).toEqual(['debug', 'warn']);
  });
});

describe('ReadinessChecks', () => {
  it('replaces a check of the same name and counts a throwing check as failing', () => {
    const checks = new ReadinessChecks();
    checks.add('a', () => 'first');
    checks.add('b', () => {
      throw new Error('boom');
    });
    checks.add('a', () => undefined);
    expect(checks.names).toEqual(['a', 'b']);
    expect(checks.evaluate()).toEqual({ ready: false, reasons: ['b check failed: boom'] });
    checks.remove('b');
    expect(checks.evaluate()).toEqual({ ready: true });
  });
});
