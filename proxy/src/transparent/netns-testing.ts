import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { canonicalIp } from '@meshbus/core';

/**
 * Network namespaces for tests: each pod is a namespace whose `eth0` is one
 * end of a veth pair; the other ends hang on a bridge inside a hub namespace,
 * so pods reach each other by address and nothing touches the host's own
 * network. Needs root (`ip netns`), Linux and iproute2.
 */

/** Why a test that needs network namespaces cannot run here, or undefined when it can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `network namespace tests need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespace tests need root (ip netns, veth, iptables); run them as root, as CI does';
  return undefined;
}

/** Every namespace this module creates starts with this, so leftovers of a crashed run can be found. */
export const NETNS_PREFIX = 'mbt-';

/** A command's result. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function runCommand(argv: readonly string[], options: { readonly timeoutMs?: number } = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    execFile(file!, args, { timeout: options.timeoutMs ?? 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
    });
  });
}

/** Runs a command and throws with its output when it fails. */
export async function mustRun(argv: readonly string[]): Promise<string> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** A pod: one network namespace with one address. */
export interface Pod {
  readonly name: string;
  /** The network namespace's name (for `ip netns exec`). */
  readonly netns: string;
  /** The pod's IPv4 address on the pods' network. */
  readonly ip: string;
  /** The pod's IPv6 address on the pods' network, in canonical (shortest) form. */
  readonly ip6: string;
}

/** Options of {@link spawnInPod}. */
export interface PodProcessOptions {
  /** Runs the process as this uid (and gid), through setpriv. @default the test's own */
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** A process inside a pod, with its output captured. */
export interface PodProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first stdout line that satisfies `match` (e.g. a "listening" line). */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited, with its code. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Pods joined by one network, torn down by `[Symbol.asyncDispose]` (or {@link PodNetwork.destroy}). */
export interface PodNetwork extends AsyncDisposable {
  /** The unique prefix of this network's namespaces. */
  readonly id: string;
  readonly pods: ReadonlyMap<string, Pod>;
  /**
   * With `hostLink`: the host's (the test process's own network namespace's) address on the pods'
   * network, `<subnet>.1`. A server the test binds there is reachable from every pod.
   */
  readonly hostIp: string | undefined;
  pod(name: string): Pod;
  /** Runs a command inside a pod to completion. */
  exec(pod: string, argv: readonly string[], options?: PodProcessOptions): Promise<CommandResult>;
  /** Starts a long-running process inside a pod; it is stopped on teardown. */
  spawn(pod: string, argv: readonly string[], options?: PodProcessOptions): PodProcess;
  destroy(): Promise<void>;
}

/** Options of {@link createPodNetwork}. */
export interface PodNetworkOptions {
  readonly pods: readonly string[];
  /** The pods' /24 as its first three octets; pods get .2, .3, ... @default '10.231.0' */
  readonly subnet?: string;
  /** The pods' IPv6 /64 as its first four groups; pods get ::2, ::3, ... @default 'fd00:231:0:0' */
  readonly subnet6?: string;
  /**
   * Also link the host (this process's network namespace) to the pods' bridge, at `<subnet>.1`, so
   * that pods reach servers the test runs on the host (a control plane). This adds one veth
   * interface and its /24 route to the host; both go away with the network. Without `subnet`, a
   * /24 of 10.200.0.0-10.249.255.0 that the host does not route yet is picked at random, so that
   * concurrent networks do not collide. @default false
   */
  readonly hostLink?: boolean;
}

/** A /24 (first three octets) in 10.200-249.x that no route of the host's covers, picked at random. */
async function freeSubnet(): Promise<string> {
  const routes = (await mustRun(['ip', '-4', 'route', 'show', 'table', 'all'])) + (await mustRun(['ip', '-4', 'addr', 'show']));
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${candidate}.`)) return candidate;
  }
  throw new Error('no free /24 in 10.200.0.0-10.249.255.0 for the pods: the host routes them all');
}

function inPod(pod: Pod, argv: readonly string[], options: PodProcessOptions = {}): string[] {
  const user =
    options.uid === undefined ? [] : ['setpriv', `--reuid=${options.uid}`, `--regid=${options.gid ?? options.uid}`, '--clear-groups', '--'];
  return ['ip', 'netns', 'exec', pod.netns, ...user, ...argv];
}

/** Deletes the namespaces of networks whose creating process is gone (crashed runs). */
export async function removeLeftoverNamespaces(): Promise<string[]> {
  const listed = await runCommand(['ip', 'netns', 'list']);
  const removed: string[] = [];
  for (const line of listed.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = /^mbt-(\d+)-/.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid !== process.pid && isAlive(pid)) continue;
    await runCommand(['ip', 'netns', 'delete', name]);
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates a hub namespace with a bridge and one namespace per pod, wired by
 * veth pairs, with loopback up in each. Names carry this process's pid and a
 * random tag, so parallel runs do not collide and leftovers of dead runs are
 * removed first. On any failure while building, everything built is removed.
 */
export async function createPodNetwork(options: PodNetworkOptions): Promise<PodNetwork> {
  const reason = netnsUnavailableReason();
  if (reason) throw new Error(reason);
  await removeLeftoverNamespaces();
  const subnet = options.subnet ?? (options.hostLink ? await freeSubnet() : '10.231.0');
  const subnet6 = options.subnet6 ?? 'fd00:231:0:0';
  const tag = randomBytes(3).toString('hex');
  const id = `${NETNS_PREFIX}${process.pid}-${tag}`;
  const hub = `${id}-hub`;
  const created: string[] = [];
  const processes = new Set<PodProcess>();
  const pods = new Map<string, Pod>();
  const destroy = async () => {
    await Promise.all([...processes].map((p) => p.stop()));
    for (const ns of created.reverse()) await runCommand(['ip', 'netns', 'delete', ns]);
    created.length = 0;
  };
  try {
    await mustRun(['ip', 'netns', 'add', hub]);
    created.push(hub);
    await mustRun(['ip', '-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await mustRun(['ip', '-n', hub, 'link', 'set', 'br0', 'up']);
    await mustRun(['ip', '-n', hub, 'link', 'set', 'lo', 'up']);
    if (options.hostLink) {
      // The host's end stays here; its peer joins the bridge. Deleting the hub deletes both.
      const hostEnd = `mbt${tag}`;
      await mustRun(['ip', 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'host0', 'netns', hub]);
      await mustRun(['ip', '-n', hub, 'link', 'set', 'host0', 'master', 'br0']);
      await mustRun(['ip', '-n', hub, 'link', 'set', 'host0', 'up']);
      await mustRun(['ip', 'addr', 'add', `${subnet}.1/24`, 'dev', hostEnd]);
      await mustRun(['ip', 'link', 'set', hostEnd, 'up']);
    }
    let index = 0;
    for (const name of options.pods) {
      if (!/^[a-z][a-z0-9]{0,7}$/.test(name)) throw new Error(`pod name ${JSON.stringify(name)}: use 1 to 8 lowercase letters and digits`);
      if (pods.has(name)) throw new Error(`pod name ${JSON.stringify(name)} is given twice`);
      const netns = `${id}-${name}`;
      const ip = `${subnet}.${index + 2}`;
      const ip6 = canonicalIp(`${subnet6}::${index + 2}`);
      await mustRun(['ip', 'netns', 'add', netns]);
      created.push(netns);
      const hubEnd = `veth${index}`;
      await mustRun(['ip', '-n', hub, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await mustRun(['ip', '-n', hub, 'link', 'set', hubEnd, 'master', 'br0']);
      await mustRun(['ip', '-n', hub, 'link', 'set', hubEnd, 'up']);
      await mustRun(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      // nodad: the address is usable at once, not after duplicate address detection.
      await mustRun(['ip', '-n', netns, '-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      await mustRun(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
      await mustRun(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
      pods.set(name, { name, netns, ip, ip6 });
      index++;
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  const pod = (name: string): Pod => {
    const p = pods.get(name);
    if (!p) throw new Error(`no pod ${JSON.stringify(name)} in this network (pods: ${[...pods.keys()].join(', ')})`);
    return p;
  };
  return {
    id,
    pods,
    hostIp: options.hostLink ? `${subnet}.1` : undefined,
    pod,
    exec: (name, argv, opts) => runCommand(inPod(pod(name), argv, opts)),
    spawn(name, argv, opts = {}) {
      const proc = startPodProcess(inPod(pod(name), argv, opts), opts.env, () => processes.delete(proc));
      processes.add(proc);
      return proc;
    },
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

function startPodProcess(argv: readonly string[], env: NodeJS.ProcessEnv | undefined, onStop: () => void): PodProcess {
  const [file, ...args] = argv;
  const child = spawn(file!, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let pending = '';
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  const seen: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      seen.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    onStop();
  };
  return {
    child,
    output: () => out,
    exited,
    line(match, timeoutMs = 10_000) {
      const found = seen.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching line from ${argv.join(' ')} within ${timeoutMs} ms; output so far:\n${out}`)), timeoutMs);
        void exited.then((code) => {
          clearTimeout(t);
          reject(new Error(`${argv.join(' ')} exited with ${code} before printing the line; output:\n${out}`));
        });
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(t);
            resolve(line);
          },
        });
      });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
