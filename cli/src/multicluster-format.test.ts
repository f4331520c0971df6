import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import { clusterOfLinkStream, formatGateways, formatLinkCheck, formatLinkPlan, formatUnlinkPlan, linkIsLive, linkPlan } from './multicluster-format.js';

const tls = { caFile: '/etc/nats/east-ca.crt', certFile: '/etc/nats/leaf/tls.crt', keyFile: '/etc/nats/leaf/tls.key' };
const request = { remote: 'east', local: 'west', leafnodeUrl: 'nats-leaf://nats.east.example:7422', password: 'pw-123' };

describe('linkPlan', () => {
  it("gives east the link login of west and a leaf node listener, west the connection, and the multicluster setting", () => {
    const plan = linkPlan(request);
    expect(plan.linkUser).toBe('link-west');
    expect(plan.remoteAuthorization).toContain('user: "link-west"');
    expect(plan.remoteAuthorization).toContain('"$JS.east.API.CONSUMER.CREATE.MESHBUS_EXPORTS"');
    expect(plan.remoteAuthorization).toContain('"meshbus.link.west.east.>"');
    expect(plan.remoteAuthorization).not.toContain('meshbus.v1.state');
    expect(plan.remoteLeafnodes).toBe('leafnodes {\n  listen: "0.0.0.0:7422"\n}\n');
    expect(plan.localLeafnodes).toContain('{ url: "nats-leaf://link-west:pw-123@nats.east.example:7422" }');
    expect(plan.linkStream).toBe('MESHBUS_LINK_EAST');
    expect(plan.localMulticlusterPermissions).toContain('$JS.API.STREAM.CREATE.MESHBUS_LINK_EAST');
    expect(plan.localMulticlusterPermissions.every((s) => s.includes('MESHBUS_LINK_EAST'))).toBe(true);
    expect(plan.serviceEnv).toEqual({ MESHBUS_MULTICLUSTER_LINKS: 'east' });
    const text = formatLinkPlan(plan);
    expect(text).toContain('# 1. On east (the exporting cluster)');
    expect(text).toContain('  MESHBUS_MULTICLUSTER_LINKS=east\n');
    expect(text.indexOf('# 2. On west')).toBeGreaterThan(text.indexOf('listen: "0.0.0.0:7422"'));
  });

  it('takes the default leaf node port', () => {
    expect(linkPlan({ ...request, leafnodeUrl: 'nats-leaf://10.0.0.1' }).remoteLeafnodes).toContain('"0.0.0.0:7422"');
    expect(linkPlan({ ...request, leafnodeUrl: 'tls://10.0.0.1:7443', tls }).remoteLeafnodes).toContain('"0.0.0.0:7443"');
  });

  it("with TLS serves east's certificate and has west check it with the CA, and says so", () => {
    const plan = linkPlan({ ...request, leafnodeUrl: 'tls://nats.east.example:7422', tls });
    expect(plan.tls).toBe(true);
    expect(plan.remoteLeafnodes).toBe('leafnodes {\n  listen: "0.0.0.0:7422"\n  tls {\n    cert_file: "/etc/nats/leaf/tls.crt"\n    key_file: "/etc/nats/leaf/tls.key"\n  }\n}\n');
    expect(plan.localLeafnodes).toContain('url: "tls://link-west:pw-123@nats.east.example:7422"\n      tls {\n        ca_file: "/etc/nats/east-ca.crt"\n      }');
    expect(formatLinkPlan(plan)).toContain("certificate must name the host");
    expect(formatLinkPlan(linkPlan(request))).toContain('No TLS: the link password and the exports cross in clear');
  });

  it('with client certificates has the listener verify them', () => {
    const plan = linkPlan({ ...request, tls: { ...tls, clientCertFile: '/etc/nats/west.crt', clientKeyFile: '/etc/nats/west.key', clientCaFile: '/etc/nats/west-ca.crt' } });
    expect(plan.remoteLeafnodes).toContain('    ca_file: "/etc/nats/west-ca.crt"\n    verify: true\n');
    expect(plan.localLeafnodes).toContain('        cert_file: "/etc/nats/west.crt"\n        key_file: "/etc/nats/west.key"\n');
  });

  it.each([
    [{ leafnodeUrl: 'tls://east:7422' }, /a TLS link needs --leafnode-ca, --leafnode-cert, --leafnode-key too/],
    [{ tls: { caFile: '/ca' } }, /a TLS link needs --leafnode-cert, --leafnode-key too/],
    [{ tls: { certFile: '/c', keyFile: '/k' } }, /a TLS link needs --leafnode-ca too/],
    [{ leafnodeUrl: 'nats://east:7422', tls }, /a TLS link uses tls:\/\/<host>:<port>/],
    [{ tls: { ...tls, clientCertFile: '/c2' } }, /--leafnode-client-cert, --leafnode-client-key and --leafnode-client-ca go together/],
    [{ tls: { ...tls, caFile: 'ca.crt' } }, /CA file "ca.crt": use an absolute path/],
  ])('refuses the TLS request %o', (change, message) => {
    expect(() => linkPlan({ ...request, ...change })).toThrow(UsageError);
    expect(() => linkPlan({ ...request, ...change })).toThrow(message);
  });

  it.each([
    [{ leafnodeUrl: 'http://east:7422' }, /use nats-leaf:\/\//],
    [{ leafnodeUrl: 'not a url' }, /is not a URL/],
    [{ leafnodeUrl: 'nats-leaf://u:p@east:7422' }, /leave the login out/],
    [{ password: 'has space' }, /letters, digits/],
    [{ local: 'east' }, /not linked to itself/],
  ])('refuses %o', (change, message) => {
    expect(() => linkPlan({ ...request, ...change })).toThrow(UsageError);
    expect(() => linkPlan({ ...request, ...change })).toThrow(message);
  });
});

describe('the tables', () => {
  it('shows each link, live or not', () => {
    const rows = [
      { cluster: 'east', health: 'live', heartbeatAgeMs: 1200, mirrored: 1, ready: 1, sourceLag: 0, sourceActiveMs: 300 },
      { cluster: 'north', health: 'gone', mirrored: 0, ready: 0, sourceError: 'stream source not reachable' },
    ];
    expect(formatLinkCheck(rows)).toBe(
      ['CLUSTER  HEALTH  HEARTBEAT  MIRRORED  READY  SOURCE', 'east     live    1.2s       1         1      lag 0, active 0.3s ago', 'north    gone    -          0         0      stream source not reachable', ''].join('\n'),
    );
    expect(rows.map(linkIsLive)).toEqual([true, false]);
    expect(formatLinkCheck([])).toMatch(/no linked clusters/);
  });

  it('lists gateways with their addresses', () => {
    const text = formatGateways([{ cluster: 'east', seenIn: 'MESHBUS_LINK_EAST', addresses: [{ address: '10.1.0.9', port: 4180 }, { address: 'fd00::1', port: 4180 }], identity: 'gw.id', ageMs: 65_000 }]);
    expect(text).toBe('CLUSTER  SEEN IN            ADDRESSES                     IDENTITY  AGE\neast     MESHBUS_LINK_EAST  10.1.0.9:4180,[fd00::1]:4180  gw.id     65s\n');
  });

  it('says what unlink removes', () => {
    expect(formatUnlinkPlan('west', 'east', 'MESHBUS_LINK_EAST', false)).toContain('would delete stream MESHBUS_LINK_EAST (run again with --yes)');
    expect(formatUnlinkPlan('west', 'east', 'MESHBUS_LINK_EAST', true)).toContain("remove from east's nats-server configuration: the user link-west");
  });

  it('names the cluster of a link stream', () => {
    expect(clusterOfLinkStream('MESHBUS_LINK_NORTH_1')).toBe('north-1');
    expect(clusterOfLinkStream('MESHBUS_STATE')).toBeUndefined();
  });
});
