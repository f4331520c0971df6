import { describe, expect, it } from 'vitest';
import type { TapEvent } from '@meshbus/bus-schemas';
import { clientToServer, formatTapJson, formatTapLine, shortIdentity, tapTableHeader } from './tap-format.js';

const record: TapEvent = {
  sessionId: 'k3v9q2m7x1c4',
  namespace: 'shop',
  workload: 'web',
  identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
  instance: 'web-5d8f7-x2k9q',
  startedAt: '2026-12-01T10:00:01.250Z',
  direction: 'inbound',
  method: 'GET',
  authority: 'web.shop.svc.cluster.local:80',
  path: '/api/cart',
  status: 200,
  latencyMs: 12,
  tls: true,
  peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
  headers: { 'x-request-id': '5f0c1e2a' },
};

describe('tap format', () => {
  it('prints one line per record: time of day, direction, method, authority, path, status, latency, client → server, TLS', () => {
    expect(tapTableHeader()).toMatch(/^TIME +DIR +METHOD +AUTHORITY +PATH +STATUS +LATENCY +CLIENT → SERVER +TLS\n$/);
    expect(formatTapLine(record)).toMatch(/^10:00:01\.250 {2}in {3}GET {6}web\.shop\.svc\.cluster\.local:80 {2}\/api\/cart +200 +12ms +shop\/front → shop\/web +tls\n$/);
  });

  it('turns the caller around for outbound records and shows what is missing', () => {
    const out = { ...record, direction: 'outbound' as const, peerIdentity: '', status: 0, tls: false, startedAt: '2026-12-01T10:00:01Z' };
    expect(clientToServer(out)).toBe('shop/web → -');
    expect(formatTapLine(out)).toMatch(/^10:00:01 {6}out {2}GET .* - +12ms +shop\/web → - +plain\n$/);
  });

  it('shows control characters of a path or authority escaped, not raw', () => {
    const line = formatTapLine({ ...record, path: '/a\x1b[2Jb', authority: 'web\r\n' });
    expect(line).toContain('/a\\x1b[2Jb');
    expect(line).toContain('web\\x0d\\x0a');
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f]/);
  });

  it('keeps identities of another form whole', () => {
    expect(shortIdentity('spiffe://example.org/web')).toBe('spiffe://example.org/web');
    expect(shortIdentity('')).toBe('-');
  });

  it('prints the record data as one JSON line', () => {
    const line = formatTapJson(record);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd()).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(record);
  });
});
