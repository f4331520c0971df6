import { describe, expect, it } from 'vitest';
import { busValidator, type BusValidator, type TrustBundle } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { CertificateAuthority } from '@meshbus/trust';
import { makeTrustMaterial } from './test-fixtures.js';
import { TrustBundlePublisher, sameTrustBundle, trustBundleOf } from './trust-bundle.js';

const { anchor, issuer } = makeTrustMaterial();
const other = makeTrustMaterial();

function bundleFor(anchorsPem: string): TrustBundle {
  const authority = CertificateAuthority.fromPem({ trustAnchorsPem: anchorsPem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
  return trustBundleOf(authority, 'cluster.local');
}

describe('trustBundleOf', () => {
  it('lists every anchor as one normalised PEM block', () => {
    const bundle = bundleFor(`junk before\n${other.anchor.certificatePem}\r\n${anchor.certificatePem}`);
    expect(bundle.anchors).toEqual([other.anchor.certificatePem, anchor.certificatePem]);
    const schemas: BusValidator = busValidator();
    schemas.check('trustBundle', bundle);
    expect(sameTrustBundle(bundle, bundleFor(other.anchor.certificatePem + anchor.certificatePem))).toBe(true);
    expect(sameTrustBundle(bundle, bundleFor(anchor.certificatePem))).toBe(false);
    expect(sameTrustBundle(bundle, { ...bundle, trustDomain: 'example.org' })).toBe(false);
  });
});

describe('TrustBundlePublisher', () => {
  it('publishes only what the bus does not hold yet, and retries failures', async () => {
    let stored: TrustBundle | undefined;
    const published: TrustBundle[] = [];
    let failures = 2;
    const publisher = new TrustBundlePublisher({
      current: async () => stored,
      publish: async (bundle) => {
        if (failures-- > 0) throw new Error('no responders');
        published.push(bundle);
        stored = bundle;
      },
      logger: silentLogger(),
      retryMs: 5,
    });
    const first = bundleFor(anchor.certificatePem);
    publisher.update(first);
    await publisher.settled();
    expect(published).toEqual([first]);

    publisher.update(bundleFor(anchor.certificatePem));
    await publisher.settled();
    expect(published).toHaveLength(1);

    stored = bundleFor(other.anchor.certificatePem + anchor.certificatePem);
    const second = bundleFor(other.anchor.certificatePem + anchor.certificatePem);
    publisher.update(second);
    await publisher.settled();
    expect(published).toHaveLength(1);

    const third = bundleFor(anchor.certificatePem);
    publisher.update(third);
    await publisher.settled();
    expect(published).toEqual([first, third]);
    await publisher.stop();
  });
});
