import { describe, expect, it } from 'vitest';
import { applyIptablesPlan, iptablesCommands, IptablesError } from './iptables-applier.js';
import { proxyInitConfig, proxyInitPlan } from './proxy-init.js';

describe('applyIptablesPlan', () => {
  it('names the modes’ commands', () => {
    expect(iptablesCommands('auto')).toEqual({ ipv4: 'iptables', ipv6: 'ip6tables' });
    expect(iptablesCommands('legacy')).toEqual({ ipv4: 'iptables-legacy', ipv6: 'ip6tables-legacy' });
  });

  it('says clearly when the iptables command is missing', async () => {
    const plan = proxyInitPlan(proxyInitConfig({ proxyUid: 1 }));
    const err = await applyIptablesPlan(plan, { commands: { ipv4: 'meshbus-no-such-iptables' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IptablesError);
    expect((err as IptablesError).code).toBe('IptablesMissing');
    expect((err as IptablesError).message).toContain('meshbus-no-such-iptables was not found');
  });

  it('quotes the command and its output when a rule is refused', async () => {
    // `false` stands in for an iptables that refuses everything: a real process, exit status 1.
    const err = await applyIptablesPlan([{ family: 'ipv4', args: ['-t', 'nat', '-F', 'X'] }], { commands: { ipv4: 'false' } }).catch((e: unknown) => e);
    expect((err as IptablesError).code).toBe('IptablesFailed');
    expect((err as IptablesError).message).toContain('false -w 5 -t nat -F X failed');
  });
});
