import { describe, expect, it } from 'vitest';
import { busValidator } from '@meshbus/bus-schemas';
import { MalformedEventError, decodeEvent, encodeEvent } from './cloudevents.js';

const subject = 'meshbus.v1.events.leader.destination';
const data = { role: 'destination', holder: 'replica-1', term: 3 };

describe('encodeEvent', () => {
  it('refuses attributes a NATS header would not carry unchanged', () => {
    // NATS trims header values: ' ' would arrive as an empty ce-id, ' r1' as 'r1'.
    for (const attrs of [
      { source: '/meshbus/destination/r1', subject: 'destination', id: ' ' },
      { source: ' /meshbus/destination/r1', subject: 'destination' },
      { source: '/meshbus/destination/r1', subject: 'a\nb' },
    ]) {
      let error: unknown;
      try {
        encodeEvent('leaderChanged', subject, data, attrs, busValidator());
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(MalformedEventError);
      expect(error).toMatchObject({ reason: 'attribute' });
    }
  });

  it('gives headers decodeEvent reads back', () => {
    const time = new Date('2026-05-01T10:00:00Z');
    const encoded = encodeEvent('leaderChanged', subject, data, { source: '/meshbus/destination/r1', subject: 'destination', id: 'e-1', time }, busValidator());
    expect(decodeEvent(subject, encoded.headers, encoded.payload, busValidator())).toMatchObject({ id: 'e-1', source: '/meshbus/destination/r1', subject: 'destination', time: time.toISOString(), data });
  });
});
