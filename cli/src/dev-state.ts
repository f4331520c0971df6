import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DevStateError } from './errors.js';

/** Folder `meshbus dev` keeps its state in, relative to where it runs. @default */
export const defaultStateDir = '.meshbus';
/** Default NATS URL when neither a flag, NATS_URL nor a running `meshbus dev` says otherwise. */
export const defaultNatsUrl = 'nats://127.0.0.1:4222';
/** Default gateway gRPC address when neither a flag nor a running `meshbus dev` says otherwise. */
export const defaultGateway = '127.0.0.1:8086';

/** What a running `meshbus dev` tells other commands, in `<state-dir>/dev.json`. */
export interface DevState {
  natsUrl: string;
  /** gRPC addresses (`host:port`) of the gateway replicas. */
  gateways: string[];
  /** Admin URL of every process, by name (`destination-1`). */
  admin: Record<string, string>;
  /** Process id of `meshbus dev`, so a file left behind by a killed run can be told apart. */
  pid?: number;
  manifestsDir?: string;
  /**
   * Logins for the CLI when the dev nats-server requires users: `reader` for
   * `meshbus events`, `workload` for `meshbus register`, `tap` for tapping
   * live requests (absent in files written before that login existed).
   */
  natsUsers?: { reader: NatsLogin; workload: NatsLogin; tap?: NatsLogin };
}

/** A NATS user and password. */
export interface NatsLogin {
  user: string;
  password: string;
}

/** Path of the state file inside a state folder. */
export function devStatePath(stateDir: string): string {
  return join(stateDir, 'dev.json');
}

/** Checks the shape of a state file's content. */
export function parseDevState(text: string, path = 'dev.json'): DevState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DevStateError(`${path} is not JSON: ${(err as Error).message}`);
  }
  const v = value as Partial<DevState> | null;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.natsUrl !== 'string' ||
    !strings(v.gateways) ||
    typeof v.admin !== 'object' ||
    v.admin === null ||
    !strings(Object.values(v.admin)) ||
    (v.pid !== undefined && typeof v.pid !== 'number') ||
    (v.natsUsers !== undefined && !(isLogin(v.natsUsers?.reader) && isLogin(v.natsUsers?.workload) && (v.natsUsers.tap === undefined || isLogin(v.natsUsers.tap))))
  ) {
    throw new DevStateError(`${path} is not a meshbus dev state file (expected natsUrl, gateways and admin); delete it if no \`meshbus dev\` is running`);
  }
  return v as DevState;
}

function isLogin(x: unknown): x is NatsLogin {
  const l = x as Partial<NatsLogin> | undefined;
  return typeof l?.user === 'string' && typeof l.password === 'string';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads `<cwd>/.meshbus/dev.json` (or another state folder). Missing, or left
 * behind by a `meshbus dev` that no longer runs: undefined.
 */
export async function readDevState(cwd: string, stateDir = defaultStateDir): Promise<DevState | undefined> {
  const path = devStatePath(resolve(cwd, stateDir));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const state = parseDevState(text, path);
  if (state.pid !== undefined && !alive(state.pid)) return undefined;
  return state;
}

/** Writes the state file, readable by the owner only: it may hold NATS passwords. */
export async function writeDevState(path: string, state: DevState): Promise<void> {
  await writeFile(path, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Removes the state file, if present. */
export async function removeDevState(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Where `events` and `register` find NATS: the flag, NATS_URL, a running `meshbus dev`, or the default. */
export function resolveNatsUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, dev: DevState | undefined): string {
  return flag ?? (env.NATS_URL || undefined) ?? dev?.natsUrl ?? defaultNatsUrl;
}

/**
 * How `events` (role `reader`) and `register` (role `workload`) log in to NATS:
 * the flags, NATS_USER/NATS_PASSWORD, else the login a running `meshbus dev`
 * wrote for that role, provided the command talks to that dev NATS.
 */
export function resolveNatsLogin(
  flags: { natsUser?: string; natsPassword?: string },
  env: Readonly<Record<string, string | undefined>>,
  dev: DevState | undefined,
  url: string,
  role: 'reader' | 'workload' | 'tap',
): Partial<NatsLogin> {
  const user = flags.natsUser ?? (env.NATS_USER || undefined);
  const password = flags.natsPassword ?? (env.NATS_PASSWORD || undefined);
  if (user !== undefined || password !== undefined) return { ...(user !== undefined ? { user } : {}), ...(password !== undefined ? { password } : {}) };
  const login = dev?.natsUsers && dev.natsUrl === url ? dev.natsUsers[role] : undefined;
  return login ? { user: login.user, password: login.password } : {};
}

/** Where `endpoints` finds gateways: the flag, a running `meshbus dev`, or the default. */
export function resolveGateways(flag: string | undefined, dev: DevState | undefined): string[] {
  if (flag) return [flag];
  if (dev && dev.gateways.length > 0) return dev.gateways;
  return [defaultGateway];
}
