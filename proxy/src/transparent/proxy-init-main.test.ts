import { describe, expect, it } from 'vitest';
import { proxyInitCommand, PROXY_INIT_EXIT, runProxyInit } from './proxy-init-main.js';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

describe('proxyInitCommand', () => {
  it('reads flags, and the environment where no flag is given', () => {
    const cmd = proxyInitCommand(['--skip-outbound-ports', '25, 443', '--ipv6'], {
      MESHBUS_PROXY_UID: '2102',
      MESHBUS_PROXY_SKIP_OUTBOUND_PORTS: '9999',
      MESHBUS_PROXY_SKIP_SUBNETS: '10.96.0.0/12,',
      MESHBUS_PROXY_IPTABLES_MODE: 'legacy',
    });
    expect(cmd.action).toBe('apply');
    expect(cmd.mode).toBe('legacy');
    expect(cmd.config).toMatchObject({
      proxyUid: 2102,
      inboundPort: 4143,
      outboundPort: 4140,
      ipv6: true,
      skipOutboundPorts: [
        { from: 25, to: 25 },
        { from: 443, to: 443 },
      ],
    });
    expect(cmd.config?.skipOutboundSubnets).toHaveLength(1);
  });

  it.each([
    [[], {}, '--proxy-uid'],
    [['--proxy-uid', 'proxy'], {}, '--proxy-uid'],
    [['--proxy-uid', '1', '--iptables-mode', 'fast'], {}, '--iptables-mode'],
    [['--proxy-uid', '1', '--inbound-port', '4x'], {}, '--inbound-port'],
    [['--proxy-uid', '1'], { MESHBUS_PROXY_IPV6: 'maybe' }, 'MESHBUS_PROXY_IPV6'],
    [['--proxy-uid', '1', '--bogus'], {}, 'bogus'],
  ])('refuses %j %j, naming %s', (argv, env, field) => {
    expect(() => proxyInitCommand(argv, env)).toThrow(field);
  });
});

describe('runProxyInit', () => {
  it('prints the rules as a shell script on --dry-run and exits 0', async () => {
    const { out, io: sink } = io();
    expect(await runProxyInit(['--proxy-uid=2102', '--dry-run', '--iptables-mode=nft'], {}, sink)).toBe(PROXY_INIT_EXIT.ok);
    expect(out.stdout).toContain('iptables-nft -t nat -A MESHBUS_PROXY_OUTBOUND -m owner --uid-owner 2102 -j RETURN\n');
  });

  it('exits 2 with the message and the usage on bad arguments', async () => {
    const { out, io: sink } = io();
    expect(await runProxyInit(['--proxy-uid=2102', '--skip-subnets=10.0.0.1/8'], {}, sink)).toBe(PROXY_INIT_EXIT.usage);
    expect(out.stderr).toContain('skipOutboundSubnets[0]');
    expect(out.stderr).toContain('Usage: proxy-init');
  });

  it('prints the usage on --help', async () => {
    const { out, io: sink } = io();
    expect(await runProxyInit(['--help'], {}, sink)).toBe(PROXY_INIT_EXIT.ok);
    expect(out.stdout).toContain('--skip-outbound-ports');
  });
});
