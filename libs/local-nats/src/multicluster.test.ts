import { describe, expect, it } from 'vitest';
import { checkClusterName, leafnodeListenConfig, leafnodeRemotesConfig, linkPermissions, linkStreamConfig, linkStreamName, linkUser } from './multicluster.js';
import { natsAuthorizationConfig } from './permissions.js';

describe('cluster names', () => {
  it.each(['east', 'us-west-2', 'a', 'c1'])('takes %s', (name) => {
    expect(checkClusterName(name)).toBe(name);
  });
  it.each(['', 'East', '1east', 'east-', 'east.1', 'a'.repeat(33), 'east west', '>'])('refuses %j', (name) => {
    expect(() => checkClusterName(name)).toThrow(/use 1 to 32 lower-case letters/);
  });
  it('names the link stream after the remote cluster', () => {
    expect(linkStreamName('us-east-1')).toBe('MESHBUS_LINK_US_EAST_1');
  });
});

describe('the link login', () => {
  it("may only keep its consumer on the exporting cluster's exports, through the domain prefix", () => {
    expect(linkPermissions('east', 'west')).toEqual({
      publish: [
        '$JS.east.API.STREAM.INFO.MESHBUS_EXPORTS',
        '$JS.east.API.CONSUMER.CREATE.MESHBUS_EXPORTS',
        '$JS.east.API.CONSUMER.CREATE.MESHBUS_EXPORTS.>',
        '$JS.ACK.MESHBUS_EXPORTS.>',
        '$JS.FC.>',
      ],
      subscribe: ['meshbus.link.west.east.>', '$JSC.R.>', '$JS.FC.>'],
    });
  });

  it('is written into the authorization block after the role users', () => {
    const config = natsAuthorizationConfig([{ user: 'reader', password: 'r', role: 'reader' }], [linkUser('east', 'west', 'pw')]);
    expect(config).toMatch(/# linked cluster west: sources MESHBUS_EXPORTS of east and nothing else\n {4}\{\n {6}user: "link-west"\n {6}password: "pw"/);
    expect(config.indexOf('"reader"')).toBeLessThan(config.indexOf('"link-west"'));
  });

  it('refuses a second user of the same name and a permission that is not a subject', () => {
    expect(() => natsAuthorizationConfig([{ user: 'link-west', password: 'r', role: 'reader' }], [linkUser('east', 'west', 'pw')])).toThrow(/link-west is listed twice/);
    expect(() => natsAuthorizationConfig([], [{ user: 'x', password: 'y', permissions: { publish: ['a"b'], subscribe: [] } }])).toThrow(/"a\\"b" is not a subject/);
  });
});

describe('leaf node configuration', () => {
  it('listens where told', () => {
    expect(leafnodeListenConfig('0.0.0.0', 7422)).toBe('leafnodes {\n  listen: "0.0.0.0:7422"\n}\n');
    expect(() => leafnodeListenConfig('0.0.0.0', 70000)).toThrow(/leaf node port 70000/);
  });

  it('connects out with the link login', () => {
    expect(leafnodeRemotesConfig([{ url: 'nats-leaf://east.example:7422', user: 'link-west', password: 'pw' }])).toBe(
      'leafnodes {\n  remotes = [\n    { url: "nats-leaf://link-west:pw@east.example:7422" }\n  ]\n}\n',
    );
  });

  it.each([
    ['not a url', /is not a URL/],
    ['http://east:7422', /use nats-leaf:/],
    ['nats-leaf://someone:pw@east:7422', /without a login in it/],
  ])('refuses the URL %j', (url, message) => {
    expect(() => leafnodeRemotesConfig([{ url, user: 'link-west', password: 'pw' }])).toThrow(message);
  });

  it('listens with TLS: the certificate and key, and the CA with verify for client certificates', () => {
    expect(leafnodeListenConfig('0.0.0.0', 7422, { certFile: '/etc/leaf/tls.crt', keyFile: '/etc/leaf/tls.key' })).toBe(
      'leafnodes {\n  listen: "0.0.0.0:7422"\n  tls {\n    cert_file: "/etc/leaf/tls.crt"\n    key_file: "/etc/leaf/tls.key"\n  }\n}\n',
    );
    expect(leafnodeListenConfig('0.0.0.0', 7422, { certFile: '/c', keyFile: '/k', caFile: '/ca', verify: true })).toBe(
      'leafnodes {\n  listen: "0.0.0.0:7422"\n  tls {\n    cert_file: "/c"\n    key_file: "/k"\n    ca_file: "/ca"\n    verify: true\n  }\n}\n',
    );
  });

  it.each([
    [{ certFile: '/c', keyFile: '/k', verify: true }, /verify needs a CA file/],
    [{ certFile: 'tls.crt', keyFile: '/k' }, /certificate file "tls.crt": use an absolute path/],
    [{ certFile: '/c', keyFile: '/k"\n}' }, /key file .*: use an absolute path without quotes/],
    [{ certFile: '/c', keyFile: '' }, /key file "": use an absolute path/],
  ])('refuses the listener TLS %j', (tls, message) => {
    expect(() => leafnodeListenConfig('0.0.0.0', 7422, tls)).toThrow(message);
  });

  it('connects out over TLS, checking the listener with the CA and presenting a client certificate when given one', () => {
    expect(leafnodeRemotesConfig([{ url: 'tls://east.example:7422', user: 'link-west', password: 'pw', tls: { caFile: '/etc/east/ca.crt' } }])).toBe(
      'leafnodes {\n  remotes = [\n    {\n      url: "tls://link-west:pw@east.example:7422"\n      tls {\n        ca_file: "/etc/east/ca.crt"\n      }\n    }\n  ]\n}\n',
    );
    expect(
      leafnodeRemotesConfig([
        { url: 'nats-leaf://a.example:7422', user: 'link-west', password: 'pw', tls: { caFile: '/ca', certFile: '/c', keyFile: '/k' } },
        { url: 'nats-leaf://b.example:7422', user: 'link-west', password: 'pw' },
      ]),
    ).toBe(
      'leafnodes {\n  remotes = [\n    {\n      url: "nats-leaf://link-west:pw@a.example:7422"\n      tls {\n        ca_file: "/ca"\n        cert_file: "/c"\n        key_file: "/k"\n      }\n    },\n    { url: "nats-leaf://link-west:pw@b.example:7422" }\n  ]\n}\n',
    );
  });

  it.each([
    ['nats://east:7422', { caFile: '/ca' }, /with TLS use tls:\/\/<host>:<port> or nats-leaf:/],
    ['tls://east:7422', { caFile: 'ca.crt' }, /CA file "ca.crt": use an absolute path/],
    ['tls://east:7422', { caFile: '/ca', certFile: '/c' }, /give both a client certificate file and its key file, or neither/],
  ])('refuses the remote %j with TLS %j', (url, tls, message) => {
    expect(() => leafnodeRemotesConfig([{ url, user: 'link-west', password: 'pw', tls }])).toThrow(message);
  });

  it("sources the remote cluster's exports into the local link stream", () => {
    expect(linkStreamConfig('west', 'east')).toEqual({
      name: 'MESHBUS_LINK_EAST',
      max_msgs_per_subject: 1,
      sources: [{ name: 'MESHBUS_EXPORTS', external: { api: '$JS.east.API', deliver: 'meshbus.link.west.east' } }],
    });
  });
});
