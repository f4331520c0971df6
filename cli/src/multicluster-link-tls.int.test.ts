import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { runCli } from './cli-process.js';

// What `meshbus multicluster link` prints with the TLS flags, given as it is to two real
// nats-servers: east's listener with the certificate, west's remote with the CA. The link comes up.

const run = promisify(execFile);
const openssl = (args: string[]) => run('openssl', args, { timeout: 20_000 });

interface Plan {
  remoteAuthorization: string;
  remoteLeafnodes: string;
  localLeafnodes: string;
  tls: boolean;
}

async function leafnodes(cluster: NatsCluster): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.monitorPort}/leafz`);
  return ((await res.json()) as { leafnodes: number }).leafnodes;
}

describe('meshbus multicluster link with TLS, on real nats-servers', () => {
  let dir: string;
  let east: NatsCluster;
  let west: NatsCluster;
  let plan: Plan;
  let leafPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-link-tls-'));
    const f = (name: string) => path.join(dir, name);
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=east leaf CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', f('ca.key'), '-out', f('ca.crt')]);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=east-leafnodes', '-keyout', f('east.key'), '-out', f('east.csr')]);
    await writeFile(f('east.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await openssl(['x509', '-req', '-in', f('east.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('east.ext'), '-out', f('east.crt')]);
    leafPort = await freePort();
    const cli = runCli(
      ['multicluster', 'link', '--name', 'east', '--local', 'west', '--leafnode-url', `tls://127.0.0.1:${leafPort}`,
        '--leafnode-cert', f('east.crt'), '--leafnode-key', f('east.key'), '--leafnode-ca', f('ca.crt'), '--json'],
      { cwd: dir },
    );
    const { code } = await cli.exited;
    expect(code, cli.output()).toBe(0);
    plan = JSON.parse(cli.output()) as Plan;
    expect(plan.tls).toBe(true);
    // The printed listener binds every interface; here the loopback one is enough.
    east = await startNats({ jetstreamDomain: 'east', authorization: plan.remoteAuthorization, extraConfig: plan.remoteLeafnodes.replace('"0.0.0.0:', '"127.0.0.1:') });
    west = await startNats({ jetstreamDomain: 'west', extraConfig: plan.localLeafnodes });
  }, 60_000);

  afterAll(async () => {
    await west?.stop();
    await east?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("links west to east over TLS with the printed blocks", async () => {
    expect(plan.remoteLeafnodes).toContain(`cert_file: ${JSON.stringify(path.join(dir, 'east.crt'))}`);
    expect(plan.localLeafnodes).toContain(`ca_file: ${JSON.stringify(path.join(dir, 'ca.crt'))}`);
    await waitFor(async () => (await leafnodes(east)) === 1 && (await leafnodes(west)) === 1, { what: 'the TLS leaf node link', timeoutMs: 15_000 });
  });
});
