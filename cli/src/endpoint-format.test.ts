import { describe, expect, it } from 'vitest';
import { changeJson, endpointSetJson, formatChange, formatEndpointHeading, formatEndpointTable } from './endpoint-format.js';
import type { EndpointSetView, EndpointView } from './endpoint-set.js';
import { formatTable } from './table.js';

const web1: EndpointView = {
  address: '127.0.0.11:8080',
  weight: 10000,
  identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
  protocolHint: 'h2',
  zone: 'zone-a',
  labels: { pod: 'web-1', app: 'web' },
};
const db: EndpointView = { address: '127.0.0.9:5432', weight: 10000, protocolHint: 'opaque', opaqueTransportPort: 4143, labels: {} };
const set: EndpointSetView = { exists: true, labels: { service: 'web' }, endpoints: new Map([[web1.address, web1], [db.address, db]]) };
const time = new Date('2025-03-01T12:00:00.000Z');

describe('formatTable', () => {
  it('aligns columns two spaces apart without trailing blanks', () => {
    expect(formatTable(['A', 'LONG'], [['xxx', 'y'], ['z', '']])).toBe('A    LONG\nxxx  y\nz\n');
  });
});

describe('endpoint table', () => {
  it('lists endpoints sorted by address with every column', () => {
    expect(formatEndpointTable(set)).toBe(
      [
        'ADDRESS          WEIGHT  IDENTITY                                                HINT                     ZONE    LABELS',
        '127.0.0.9:5432   10000   -                                                       opaque (transport 4143)  -       -',
        '127.0.0.11:8080  10000   web.shop.serviceaccount.identity.meshbus.cluster.local  h2                       zone-a  app=web,pod=web-1',
        '',
      ].join('\n'),
    );
  });

  it('says why the set is empty', () => {
    expect(formatEndpointTable({ exists: true, labels: {}, endpoints: new Map() })).toMatch(/the service exists but none is ready/);
    expect(formatEndpointTable({ exists: false, labels: {}, endpoints: new Map() })).toMatch(/no such destination/);
  });

  it('heads the table with the destination, gateway, count and set labels', () => {
    expect(formatEndpointHeading('web.shop.svc.cluster.local:80', '127.0.0.1:8086', set)).toBe(
      'web.shop.svc.cluster.local:80 via 127.0.0.1:8086: 2 endpoints (labels service=web)\n',
    );
  });
});

describe('changes', () => {
  it('prints one timestamped line per endpoint with the size after', () => {
    expect(formatChange({ kind: 'add', endpoints: [web1] }, time, 3)).toBe(
      '2025-03-01T12:00:00.000Z  + 127.0.0.11:8080  weight=10000 identity=web.shop.serviceaccount.identity.meshbus.cluster.local hint=h2 zone=zone-a labels=app=web,pod=web-1  [3 endpoints]\n',
    );
    expect(formatChange({ kind: 'remove', addresses: ['127.0.0.11:8080'] }, time, 1)).toBe('2025-03-01T12:00:00.000Z  - 127.0.0.11:8080  [1 endpoint]\n');
    expect(formatChange({ kind: 'noEndpoints', exists: true, removed: ['127.0.0.9:5432'] }, time, 0)).toBe(
      '2025-03-01T12:00:00.000Z  - 127.0.0.9:5432\n2025-03-01T12:00:00.000Z  no endpoints (the service exists but none is ready)  [0 endpoints]\n',
    );
  });

  it('renders changes and sets as JSON', () => {
    expect(changeJson({ kind: 'remove', addresses: ['127.0.0.11:8080'] }, time, 1)).toEqual({
      time: '2025-03-01T12:00:00.000Z',
      update: 'remove',
      addresses: ['127.0.0.11:8080'],
      size: 1,
    });
    expect(endpointSetJson(set).endpoints.map((e) => e.address)).toEqual(['127.0.0.9:5432', '127.0.0.11:8080']);
  });
});
