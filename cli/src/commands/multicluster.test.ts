import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../context.js';
import { createProgram } from '../program.js';

async function meshbus(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const context: CliContext = { env: {}, cwd: process.cwd(), stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, signal: new AbortController().signal };
  try {
    await createProgram(context).parseAsync(args, { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, stdout, stderr };
    throw error;
  }
}

const link = ['multicluster', 'link', '--name', 'east', '--local', 'west', '--leafnode-url', 'nats-leaf://nats.east.example:7422'];

describe('meshbus multicluster link', () => {
  it('generates a strong password unless given one, and prints the same login on both sides', async () => {
    const one = await meshbus([...link, '--json']);
    const two = await meshbus([...link, '--json']);
    expect(one.exitCode, one.stderr).toBe(0);
    const password = (out: string) => /password: "([^"]+)"/.exec((JSON.parse(out) as { remoteAuthorization: string }).remoteAuthorization)![1]!;
    expect(password(one.stdout)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(password(one.stdout)).not.toBe(password(two.stdout));
    expect((JSON.parse(one.stdout) as { localLeafnodes: string }).localLeafnodes).toContain(`link-west:${password(one.stdout)}@nats.east.example:7422`);
    const given = await meshbus([...link, '--password', 'chosen-pw']);
    expect(given.stdout).toContain('password: "chosen-pw"');
    expect(given.stdout).toContain('  MESHBUS_MULTICLUSTER_LINKS=east\n');
  });

  it('prints the TLS blocks of both ends with the TLS flags', async () => {
    const tlsLink = ['multicluster', 'link', '--name', 'east', '--local', 'west', '--leafnode-url', 'tls://nats.east.example:7422'];
    const files = ['--leafnode-ca', '/etc/nats/east-ca.crt', '--leafnode-cert', '/etc/nats/leaf/tls.crt', '--leafnode-key', '/etc/nats/leaf/tls.key'];
    const out = await meshbus([...tlsLink, ...files, '--json']);
    expect(out.exitCode, out.stderr).toBe(0);
    const plan = JSON.parse(out.stdout) as { remoteLeafnodes: string; localLeafnodes: string; tls: boolean };
    expect(plan.tls).toBe(true);
    expect(plan.remoteLeafnodes).toContain('  tls {\n    cert_file: "/etc/nats/leaf/tls.crt"\n    key_file: "/etc/nats/leaf/tls.key"\n  }');
    expect(plan.localLeafnodes).toMatch(/url: "tls:\/\/link-west:[A-Za-z0-9_-]{32}@nats.east.example:7422"\n {6}tls \{\n {8}ca_file: "\/etc\/nats\/east-ca.crt"/);
    const text = await meshbus([...tlsLink, ...files, '--leafnode-client-cert', '/w.crt', '--leafnode-client-key', '/w.key', '--leafnode-client-ca', '/wca.crt']);
    expect(text.stdout).toContain('      verify: true\n');
    expect(text.stdout).toContain('          cert_file: "/w.crt"\n');
  });

  it.each([
    [['multicluster', 'link', '--name', 'east', '--local', 'west', '--leafnode-url', 'tls://e:7422'], 'a TLS link needs --leafnode-ca, --leafnode-cert, --leafnode-key too'],
    [[...link, '--leafnode-ca', '/ca.crt'], 'a TLS link needs --leafnode-cert, --leafnode-key too'],
    [[...link, '--leafnode-ca', 'ca.crt', '--leafnode-cert', '/c', '--leafnode-key', '/k'], 'CA file "ca.crt": use an absolute path'],
    [[...link, '--leafnode-ca', '/ca', '--leafnode-cert', '/c', '--leafnode-key', '/k', '--leafnode-client-cert', '/w'], '--leafnode-client-cert, --leafnode-client-key and --leafnode-client-ca go together'],
    [['multicluster', 'link', '--name', 'east', '--local', 'west'], '--leafnode-url is required'],
    [['multicluster', 'link', '--local', 'west', '--leafnode-url', 'nats-leaf://e:7422'], '--name is required'],
    [['multicluster', 'link', '--name', 'East', '--local', 'west', '--leafnode-url', 'nats-leaf://e:7422'], '--name "East" must be a cluster name'],
    [[...link, '--password', 'no spaces please'], "use letters, digits, '.', '_' and '-' only"],
    [[...link, '--bogus'], "unknown option '--bogus'"],
  ])('exits 2 on %j', async (args, message) => {
    const { exitCode, stderr } = await meshbus(args);
    expect(exitCode).toBe(2);
    expect(stderr).toContain(message);
  });
});
