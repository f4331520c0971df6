import { describe, expect, it } from 'vitest';
import { computeExports, endpointSetKey, exportLabel, type LocalService } from './exports.js';

const web: LocalService = { namespace: 'shop', name: 'web', labels: { app: 'web', [exportLabel]: 'true' }, ports: [{ port: 443, name: 'https' }, { port: 80, name: 'http' }] };
const api: LocalService = { namespace: 'shop', name: 'api', labels: { app: 'api' }, ports: [{ port: 8080 }] };
const id = (sa: string) => `${sa}.shop.serviceaccount.identity.meshbus.cluster.local`;

describe('exports', () => {
  it('offer only labelled services: their ports, ready counts and identities, never addresses', () => {
    const sets = new Map([
      [endpointSetKey('shop', 'web', 80), { endpoints: [{ identity: id('web'), address: '10.0.0.1' }, { identity: id('web-canary'), address: '10.0.0.2' }, { address: '10.0.0.3' }] }],
      [endpointSetKey('shop', 'api', 8080), { endpoints: [{ identity: id('api') }] }],
    ]);
    expect(computeExports('east', [api, web], sets)).toEqual([
      {
        cluster: 'east',
        namespace: 'shop',
        service: 'web',
        ports: [
          { port: 80, name: 'http', ready: 3 },
          { port: 443, name: 'https', ready: 0 },
        ],
        identities: [id('web-canary'), id('web')],
      },
    ]);
  });

  it.each([['false'], ['True'], ['yes'], ['']])('ignore the label set to %j', (value) => {
    expect(computeExports('east', [{ ...web, labels: { [exportLabel]: value } }], new Map())).toEqual([]);
  });

  it('carry opaque ports as such', () => {
    const db: LocalService = { namespace: 'data', name: 'db', labels: { [exportLabel]: 'true' }, ports: [{ port: 5432, opaque: true }] };
    expect(computeExports('east', [db], new Map())[0]!.ports).toEqual([{ port: 5432, opaque: true, ready: 0 }]);
  });
});
