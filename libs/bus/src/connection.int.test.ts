import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { natsConnectionFactory } from './connection.js';

describe('natsConnectionFactory on a real nats-server', () => {
  let nats: NatsCluster;

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('opens a connection, follows its loss and return, and closes it on release', async () => {
    const conn = await natsConnectionFactory({ servers: [nats.url], name: 'meshbus-test/factory' })(silentLogger());
    expect(conn.connected).toBe(true);
    let reconnects = 0;
    conn.onReconnect(() => reconnects++);
    await nats.kill(0);
    await waitFor(() => !conn.connected, { what: 'disconnect seen' });
    await nats.restart(0);
    await waitFor(() => conn.connected, { what: 'reconnect seen', timeoutMs: 15_000 });
    expect(reconnects).toBe(1);
    await conn.release();
    expect(conn.client.isClosed()).toBe(true);
    expect(conn.connected).toBe(false);
  });

  it('leaves a connection it was given open on release', async () => {
    const given = await connect({ servers: nats.url });
    try {
      const conn = await natsConnectionFactory({ servers: ['nats://127.0.0.1:1'], name: 'unused' }, given)(silentLogger());
      expect(conn.client).toBe(given);
      expect(conn.connected).toBe(true);
      await conn.release();
      expect(given.isClosed()).toBe(false);
      await given.flush();
    } finally {
      await given.close();
    }
  });
});
