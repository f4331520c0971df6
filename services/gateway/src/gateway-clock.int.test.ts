import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects } from '@meshbus/bus-schemas';
import { identityName } from '@meshbus/core';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { createGateway } from './composition-root.js';
import { envToConfig } from './config.js';
import type { Gateway } from './gateway-service.js';

const HOUR = 3_600_000;
/** The gateway's clock: two hours ahead of the real one, and still within the certificates' validity. */
const gatewayClock = new Date(Date.now() + 2 * HOUR);

function hello(chain: Buffer[], key: KeyObject, signedAtMs: number): tap.ProxyMessage {
  const claim = Buffer.from(tap.HelloClaim.encode({ signedAtMs: BigInt(signedAtMs), instance: 'web-1' }).finish());
  return { kind: { $case: 'hello', hello: { claim, certificateChain: chain, signature: sign('sha256', Buffer.concat([tapHelloSignaturePrefix, claim]), key) } } };
}

describe('the gateway built by its composition root', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let gateway: Gateway;
  let client: tap.TapClient;
  let leaf: { chain: Buffer[]; key: KeyObject };

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectBus({ servers: [nats.url], name: 'test' }, silentLogger());
    gateway = createGateway(envToConfig({ MESHBUS_GRPC_ADDR: '127.0.0.1:0', MESHBUS_ADMIN_ADDR: '127.0.0.1:0', NATS_URL: nats.url, MESHBUS_REPLICA_ID: 'gateway-clock' }), {
      logger: silentLogger(),
      nc,
      now: () => gatewayClock,
    });
    await gateway.start();
    const now = Date.now();
    const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
    const anchor = createTrustAnchor({ commonName: 'root.clock.test', validity });
    const issuer = createIssuer({ anchor, commonName: 'issuer.clock.test', validity });
    const ca = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
    const identity = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await ca.issue({ identity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] }) });
    leaf = { chain: [Buffer.from(issued.leafDer), ...issued.intermediatesDer.map((d) => Buffer.from(d))], key: privateKey };
    const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/identity/test' });
    await publisher.publish('trustBundle', subjects.trustBundle, 'trust-bundle', { trustDomain: 'cluster.local', anchors: [anchor.certificatePem] });
    client = new tap.TapClient(`127.0.0.1:${gateway.grpcPort}`, credentials.createInsecure());
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await gateway?.[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.stop();
  });

  it('judges the age of a tap hello by the clock it was given (the now override)', async () => {
    // A hello signed by the real clock is two hours old for this gateway, once it knows the trust bundle.
    const refusal = await waitFor(
      async () => {
        const call = client.watch();
        const ended = new Promise<ServiceError | null>((resolve) => {
          call.on('error', (e: ServiceError) => resolve(e));
          call.on('end', () => resolve(null));
          call.on('data', () => undefined);
        });
        call.write(hello(leaf.chain, leaf.key, Date.now()));
        const error = await ended;
        return error?.details.includes("too far from the gateway's clock") && error.details;
      },
      { what: 'the hello refused as too old', timeoutMs: 15_000 },
    );
    expect(refusal).toContain(`(${gatewayClock.toISOString()})`);
  });
});
