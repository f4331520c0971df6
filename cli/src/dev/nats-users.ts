import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { natsRoles, type NatsRole, type NatsUser } from '@meshbus/local-nats';
import { DevStartError } from '../errors.js';

/** A NATS login. */
export interface NatsCredentials {
  user: string;
  password: string;
}

/** The login of every role, kept in `<state-dir>/nats-users.json`. */
export type DevNatsUsers = Record<NatsRole, NatsCredentials>;

/** Path of the users file inside a state folder. */
export function natsUsersPath(stateDir: string): string {
  return join(stateDir, 'nats-users.json');
}

function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Reads the dev users, or creates them with random passwords on first run
 * (readable by the owner only). Keeping them across runs lets a `meshbus
 * events` started against the previous run's dev.json reconnect after a restart.
 */
export async function loadOrCreateNatsUsers(stateDir: string): Promise<DevNatsUsers> {
  return loadOrCreateNatsUsersFile(natsUsersPath(stateDir));
}

/**
 * {@link loadOrCreateNatsUsers} for a users file anywhere. A file written
 * before a role existed gets a login for it, and is written back.
 */
export async function loadOrCreateNatsUsersFile(path: string): Promise<DevNatsUsers> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === undefined) {
    const users = Object.fromEntries(natsRoles.map((role) => [role, { user: role, password: newPassword() }])) as DevNatsUsers;
    await writeFile(path, JSON.stringify(users, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return users;
  }
  // A file copied or created by hand may be readable by others.
  await chmod(path, 0o600);
  const { users, added } = parseNatsUsersWithNewRoles(text, path);
  if (added.length > 0) await writeFile(path, JSON.stringify(users, null, 2) + '\n', { mode: 0o600 });
  return users;
}

/** Roles a users file may lack: they came after the file was written, and get a new login. */
const newerRoles: readonly NatsRole[] = ['policy', 'injector', 'tap'];

function parseNatsUsersWithNewRoles(text: string, path: string): { users: DevNatsUsers; added: NatsRole[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DevStartError(`${path} is not JSON: ${(err as Error).message}`);
  }
  const v = value as Record<string, Partial<NatsCredentials> | undefined> | null;
  const added: NatsRole[] = [];
  if (v !== null && typeof v === 'object') {
    for (const role of newerRoles) {
      if (v[role] === undefined && !Object.values(v).some((c) => c?.user === role)) {
        v[role] = { user: role, password: newPassword() };
        added.push(role);
      }
    }
  }
  return { users: parseNatsUsers(JSON.stringify(v), path), added };
}

/** Checks the shape of a users file. */
export function parseNatsUsers(text: string, path = 'nats-users.json'): DevNatsUsers {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DevStartError(`${path} is not JSON: ${(err as Error).message}`);
  }
  const v = value as Record<string, Partial<NatsCredentials> | undefined> | null;
  for (const role of natsRoles) {
    const c = v?.[role];
    if (typeof c?.user !== 'string' || typeof c.password !== 'string') {
      throw new DevStartError(`${path} has no user and password for the ${role} role; delete it to have new ones generated`);
    }
  }
  return v as DevNatsUsers;
}

/** The users of the nats-server authorization block. */
export function natsUserList(users: DevNatsUsers): NatsUser[] {
  return natsRoles.map((role) => ({ ...users[role], role }));
}
