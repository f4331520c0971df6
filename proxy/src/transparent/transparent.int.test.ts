import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyIptablesPlan } from './iptables-applier.js';
import { createPodNetwork, netnsUnavailableReason, type PodNetwork, type PodProcess } from './netns-testing.js';
import { proxyInitConfig, proxyInitPlan, proxyInitRemovalPlan } from './proxy-init.js';

const PROXY_UID = 2102;
const CLIENT_UID = 2103;
const SKIPPED_PORT = 7001;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const proxyInitMain = fileURLToPath(new URL('../../dist/transparent/proxy-init-main.js', import.meta.url));
const taggingProxy = here('./testing/tagging-proxy.mjs');
const echoServer = here('./testing/echo-server.mjs');
const tcpClient = here('./testing/tcp-client.mjs');

// Only "not root" skips: CI runs these as root and must never skip them.
const unavailable = netnsUnavailableReason();
if (unavailable) console.warn(`skipping transparent-mode tests: ${unavailable}`);

interface ProxyEvent {
  tag: string;
  event?: string;
  dst?: string;
  from?: string;
  error?: string;
}

function events(proc: PodProcess): ProxyEvent[] {
  return proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ProxyEvent)
    .filter((e) => e.event === 'accepted' || e.error !== undefined);
}

async function natRules(net: PodNetwork, pod: string, save = 'iptables-save'): Promise<string[]> {
  const r = await net.exec(pod, [save, '-t', 'nat']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A '));
}

describe.skipIf(unavailable !== undefined)('transparent mode in network namespaces', () => {
  let net: PodNetwork;
  let outboundA: PodProcess;
  let inboundB: PodProcess;
  let ips: { a: string; b: string; c: string; b6: string };

  const optionsA = () => ({ proxyUid: PROXY_UID, ipv6: true, skipOutboundPorts: [SKIPPED_PORT], skipOutboundSubnets: [`${ips.c}/32`] });

  beforeAll(async () => {
    if (!existsSync(proxyInitMain)) throw new Error(`${proxyInitMain} is missing: run npx tsc --build first`);
    net = await createPodNetwork({ pods: ['a', 'b', 'c'] });
    ips = { a: net.pod('a').ip, b: net.pod('b').ip, c: net.pod('c').ip, b6: net.pod('b').ip6 };

    // Pod A: rules through the CLI, as an init container would write them.
    const cli = await net.exec('a', [
      process.execPath,
      proxyInitMain,
      `--proxy-uid=${PROXY_UID}`,
      `--skip-outbound-ports=${SKIPPED_PORT}`,
      `--skip-subnets=${ips.c}/32`,
      '--ipv6',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    // Pod B: the same rules through the library, skipping one inbound port.
    await applyIptablesPlan(proxyInitPlan(proxyInitConfig({ proxyUid: PROXY_UID, ipv6: true, skipInboundPorts: [SKIPPED_PORT] })), {
      prefix: ['ip', 'netns', 'exec', net.pod('b').netns],
    });

    outboundA = net.spawn('a', [process.execPath, taggingProxy, '4140', 'A-outbound'], { uid: PROXY_UID });
    inboundB = net.spawn('b', [process.execPath, taggingProxy, '4143', 'B-inbound'], { uid: PROXY_UID });
    const serverB = net.spawn('b', [process.execPath, echoServer, '8080', String(SKIPPED_PORT)]);
    const serverC = net.spawn('c', [process.execPath, echoServer, '8080']);
    const listening = (l: string) => l.includes('"listening"');
    await Promise.all([outboundA.line(listening), inboundB.line(listening), serverB.line(listening), serverC.line(listening)]);
  });

  afterAll(async () => {
    await net?.destroy();
  });

  async function call(host: string, port: number, text: string): Promise<string> {
    const r = await net.exec('a', [process.execPath, tcpClient, host, String(port), text], { uid: CLIENT_UID });
    expect(r.code, `client failed: ${r.stderr}`).toBe(0);
    return (JSON.parse(r.stdout.trim()) as { reply: string }).reply;
  }

  it('sends an unmodified client in pod A through A outbound and B inbound, each seeing the original destination', async () => {
    const before = { a: events(outboundA).length, b: events(inboundB).length };
    const reply = await call(ips.b, 8080, 'hello');
    // Each hop puts its tag in front of what it forwards, so the hop nearest the server comes first.
    expect(reply).toBe(`B-inbound saw ${ips.b}:8080\nA-outbound saw ${ips.b}:8080\nhello\n`);
    // One connection each: the proxies' own connections were not redirected back to them.
    const a = events(outboundA).slice(before.a);
    const b = events(inboundB).slice(before.b);
    expect(a).toEqual([expect.objectContaining({ event: 'accepted', dst: `${ips.b}:8080` })]);
    expect(b).toEqual([expect.objectContaining({ event: 'accepted', dst: `${ips.b}:8080` })]);
    // B's proxy sees A's proxy's connection coming from A's address.
    expect(b[0]?.from).toContain(`${ips.a}:`);
  });

  it('does the same over IPv6 (ip6tables, IP6T_SO_ORIGINAL_DST)', async () => {
    const before = { a: events(outboundA).length, b: events(inboundB).length };
    const reply = await call(ips.b6, 8080, 'hello6');
    expect(reply).toBe(`B-inbound saw ${ips.b6}:8080\nA-outbound saw ${ips.b6}:8080\nhello6\n`);
    expect(events(outboundA).slice(before.a)).toEqual([expect.objectContaining({ dst: `${ips.b6}:8080` })]);
    expect(events(inboundB).slice(before.b)).toEqual([expect.objectContaining({ dst: `${ips.b6}:8080` })]);
  });

  it('lets skipped ports go direct on both sides', async () => {
    const before = { a: events(outboundA).length, b: events(inboundB).length };
    expect(await call(ips.b, SKIPPED_PORT, 'direct')).toBe('direct\n');
    expect(events(outboundA).length).toBe(before.a);
    expect(events(inboundB).length).toBe(before.b);
  });

  it('lets skipped subnets go direct', async () => {
    const before = events(outboundA).length;
    expect(await call(ips.c, 8080, 'subnet')).toBe('subnet\n');
    expect(events(outboundA).length).toBe(before);
  });

  it('leaves one set of rules when the rules are applied again', async () => {
    const first = await natRules(net, 'a');
    const first6 = await natRules(net, 'a', 'ip6tables-save');
    expect(first.filter((r) => r.includes('-j MESHBUS_PROXY_'))).toHaveLength(2);
    expect(first6.filter((r) => r.includes('-j MESHBUS_PROXY_'))).toHaveLength(2);
    await applyIptablesPlan(proxyInitPlan(proxyInitConfig(optionsA())), { prefix: ['ip', 'netns', 'exec', net.pod('a').netns] });
    await applyIptablesPlan(proxyInitPlan(proxyInitConfig(optionsA())), { prefix: ['ip', 'netns', 'exec', net.pod('a').netns] });
    expect(await natRules(net, 'a')).toEqual(first);
    expect(await natRules(net, 'a', 'ip6tables-save')).toEqual(first6);
    // And traffic still flows through both proxies once.
    expect(await call(ips.b, 8080, 'again')).toBe(`B-inbound saw ${ips.b}:8080\nA-outbound saw ${ips.b}:8080\nagain\n`);
  });

  it('takes the rules out again, after which A reaches B without its outbound proxy', async () => {
    const before = events(outboundA).length;
    await applyIptablesPlan(proxyInitRemovalPlan({ ipv6: true }), { prefix: ['ip', 'netns', 'exec', net.pod('a').netns] });
    expect((await natRules(net, 'a')).filter((r) => r.includes('MESHBUS_PROXY_'))).toEqual([]);
    expect((await natRules(net, 'a', 'ip6tables-save')).filter((r) => r.includes('MESHBUS_PROXY_'))).toEqual([]);
    expect(await call(ips.b, 8080, 'plain')).toBe(`B-inbound saw ${ips.b}:8080\nplain\n`);
    expect(events(outboundA).length).toBe(before);
  });
});
