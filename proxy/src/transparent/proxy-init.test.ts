import { describe, expect, it } from 'vitest';
import { parsePortRange, planToShell, proxyInitConfig, ProxyInitConfigError, proxyInitPlan, proxyInitRemovalPlan } from './proxy-init.js';

const rules = (plan: ReturnType<typeof proxyInitPlan>) => plan.map((s) => s.args.join(' '));

describe('proxyInitPlan', () => {
  it('redirects inbound to 4143 and outbound to 4140, skipping the proxy uid and loopback first', () => {
    const plan = proxyInitPlan(proxyInitConfig({ proxyUid: 2102 }));
    expect(rules(plan)).toEqual([
      '-t nat -N MESHBUS_PROXY_INBOUND',
      '-t nat -F MESHBUS_PROXY_INBOUND',
      '-t nat -A MESHBUS_PROXY_INBOUND -p tcp -j REDIRECT --to-ports 4143',
      '-t nat -N MESHBUS_PROXY_OUTBOUND',
      '-t nat -F MESHBUS_PROXY_OUTBOUND',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -m owner --uid-owner 2102 -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -o lo -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -d 127.0.0.0/8 -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -p tcp -j REDIRECT --to-ports 4140',
      '-t nat -A PREROUTING -p tcp -j MESHBUS_PROXY_INBOUND',
      '-t nat -A OUTPUT -p tcp -j MESHBUS_PROXY_OUTBOUND',
    ]);
    expect(plan.every((s) => s.family === 'ipv4')).toBe(true);
  });

  it('makes creating the chains and adding the jumps conditional, and flushes the chains before filling them', () => {
    const plan = proxyInitPlan(proxyInitConfig({ proxyUid: 1 }));
    const create = plan.filter((s) => s.args.includes('-N'));
    expect(create.map((s) => s.unless?.join(' '))).toEqual(['-t nat -n -L MESHBUS_PROXY_INBOUND', '-t nat -n -L MESHBUS_PROXY_OUTBOUND']);
    const jumps = plan.filter((s) => s.args[2] === '-A' && (s.args[3] === 'PREROUTING' || s.args[3] === 'OUTPUT'));
    expect(jumps.map((s) => s.unless?.join(' '))).toEqual(['-t nat -C PREROUTING -p tcp -j MESHBUS_PROXY_INBOUND', '-t nat -C OUTPUT -p tcp -j MESHBUS_PROXY_OUTBOUND']);
    const unconditional = plan.filter((s) => s.unless === undefined);
    expect(unconditional.every((s) => s.args[2] === '-F' || (s.args[2] === '-A' && s.args[3]!.startsWith('MESHBUS_')))).toBe(true);
  });

  it('skips listed ports and subnets before the redirect, and redirects only the listed workload ports', () => {
    const plan = proxyInitPlan(
      proxyInitConfig({
        proxyUid: 2102,
        inboundPort: 5143,
        outboundPort: 5140,
        redirectInboundPorts: [8080, '9000-9010'],
        skipInboundPorts: ['4190:4191'],
        skipOutboundPorts: ['25', 443],
        skipOutboundSubnets: ['10.96.0.0/12', '192.168.1.7', 'fd00::/8'],
      }),
    );
    const inbound = rules(plan).filter((r) => r.startsWith('-t nat -A MESHBUS_PROXY_INBOUND'));
    expect(inbound).toEqual([
      '-t nat -A MESHBUS_PROXY_INBOUND -p tcp -m multiport --dports 4190:4191 -j RETURN',
      '-t nat -A MESHBUS_PROXY_INBOUND -p tcp -m multiport --dports 8080,9000:9010 -j REDIRECT --to-ports 5143',
    ]);
    const outbound = rules(plan).filter((r) => r.startsWith('-t nat -A MESHBUS_PROXY_OUTBOUND'));
    expect(outbound.slice(3)).toEqual([
      '-t nat -A MESHBUS_PROXY_OUTBOUND -p tcp -m multiport --dports 25,443 -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -d 10.96.0.0/12 -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -d 192.168.1.7/32 -j RETURN',
      '-t nat -A MESHBUS_PROXY_OUTBOUND -p tcp -j REDIRECT --to-ports 5140',
    ]);
  });

  it('splits long port lists into multiport matches of at most 15 ports, a range counting two', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
    const plan = proxyInitPlan(proxyInitConfig({ proxyUid: 1, skipOutboundPorts: [...ports, '2000-2010'] }));
    const groups = plan.flatMap((s) => {
      const i = s.args.indexOf('--dports');
      return i < 0 ? [] : [s.args[i + 1]!];
    });
    expect(groups).toEqual([ports.slice(0, 15).join(','), `${ports.slice(15).join(',')},2000:2010`]);
  });

  it('writes ip6tables rules with IPv6 subnets and ::1 when asked', () => {
    const plan = proxyInitPlan(proxyInitConfig({ proxyUid: 7, ipv6: true, skipOutboundSubnets: ['10.0.0.0/8', 'fd00::/8'] }));
    const v6 = plan.filter((s) => s.family === 'ipv6').map((s) => s.args.join(' '));
    expect(v6).toContain('-t nat -A MESHBUS_PROXY_OUTBOUND -d ::1/128 -j RETURN');
    expect(v6).toContain('-t nat -A MESHBUS_PROXY_OUTBOUND -d fd00::/8 -j RETURN');
    expect(v6.some((r) => r.includes('10.0.0.0/8'))).toBe(false);
    const v4 = plan.filter((s) => s.family === 'ipv4').map((s) => s.args.join(' '));
    expect(v4.some((r) => r.includes('fd00::/8'))).toBe(false);
  });
});

describe('proxyInitConfig', () => {
  it.each([
    [{ proxyUid: -1 }, 'proxyUid'],
    [{ proxyUid: 1.5 }, 'proxyUid'],
    [{ proxyUid: 1, inboundPort: 0 }, 'inboundPort'],
    [{ proxyUid: 1, outboundPort: 70000 }, 'outboundPort'],
    [{ proxyUid: 1, inboundPort: 4140 }, 'inboundPort and outboundPort'],
    [{ proxyUid: 1, skipInboundPorts: ['http'] }, 'skipInboundPorts[0]'],
    [{ proxyUid: 1, skipOutboundPorts: [80, '90-85'] }, 'skipOutboundPorts[1]'],
    [{ proxyUid: 1, redirectInboundPorts: ['8080', '65536'] }, 'redirectInboundPorts[1]'],
    [{ proxyUid: 1, skipOutboundSubnets: ['10.0.0.0/8', '10.1.2.3/8'] }, 'skipOutboundSubnets[1]'],
    [{ proxyUid: 1, skipOutboundSubnets: ['cluster'] }, 'skipOutboundSubnets[0]'],
  ])('refuses %j, naming %s', (options, field) => {
    expect(() => proxyInitConfig(options)).toThrow(ProxyInitConfigError);
    expect(() => proxyInitConfig(options)).toThrow(field);
  });

  it('reads ports and ranges', () => {
    expect(parsePortRange('8080', 'f')).toEqual({ from: 8080, to: 8080 });
    expect(parsePortRange(' 1-2 ', 'f')).toEqual({ from: 1, to: 2 });
    expect(parsePortRange('3:4', 'f')).toEqual({ from: 3, to: 4 });
  });
});

describe('planToShell', () => {
  it('writes checks as `check || run` and removals as tolerant commands', () => {
    const script = planToShell(proxyInitPlan(proxyInitConfig({ proxyUid: 2102 })), { ipv4: 'iptables-legacy', ipv6: 'ip6tables-legacy' });
    expect(script).toContain('iptables-legacy -t nat -C OUTPUT -p tcp -j MESHBUS_PROXY_OUTBOUND >/dev/null 2>&1 || iptables-legacy -t nat -A OUTPUT -p tcp -j MESHBUS_PROXY_OUTBOUND\n');
    expect(planToShell(proxyInitRemovalPlan())).toContain('iptables -t nat -X MESHBUS_PROXY_INBOUND 2>/dev/null || true\n');
  });
});
