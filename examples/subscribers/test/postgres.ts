import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@meshbus/testing';

const run = promisify(execFile);

/** A throwaway PostgreSQL server, reachable on a unix socket in its own folder. */
export interface Postgres extends AsyncDisposable {
  /** Folder of the unix socket: the `host` for pg. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** Environment for a pg client: PGHOST, PGPORT, PGUSER, PGDATABASE. */
  readonly env: Record<string, string>;
  /** Runs a query with psql and returns its rows as JSON objects. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  stop(): Promise<void>;
}

/**
 * Where initdb and pg_ctl are: $PG_BIN, else the newest Debian
 * /usr/lib/postgresql/<version>/bin, else PATH. Throws when there is none,
 * so that a test needing PostgreSQL fails rather than skips.
 */
export function postgresBin(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_BIN) return env.PG_BIN;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v) && existsSync(join(debian, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(debian, versions[0], 'bin');
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error('PostgreSQL not found: no initdb in $PG_BIN, /usr/lib/postgresql/<version>/bin or PATH; install the postgresql package');
}

/** initdb refuses to run as root: then the server runs as the postgres user (or nobody), which owns the folder. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const { stdout } = await run('id', ['-u', name]);
      const { stdout: gid } = await run('id', ['-g', name]);
      return { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

/** Starts a new PostgreSQL cluster in a temporary folder, on a free port, listening on a unix socket only. */
export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-pg-'));
  const as = await serverUser();
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const user = 'meshbus';
  const opts = { ...(as ?? {}), env: { ...process.env, LC_ALL: 'C' }, cwd: dir };
  const pgCtl = join(bin, 'pg_ctl');
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], opts);
    const serverOptions = `-p ${port} -k ${dir} -c listen_addresses='' -c fsync=off`;
    await run(pgCtl, ['-D', data, '-l', join(dir, 'server.log'), '-o', serverOptions, '-w', '-t', '30', 'start'], opts);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`could not start PostgreSQL from ${bin}: ${e.stderr?.trim() || e.message}`);
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop'], opts).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  const database = 'postgres';
  const env = { PGHOST: dir, PGPORT: String(port), PGUSER: user, PGDATABASE: database };
  // psql rather than a client library in the test process: the rows come back as one JSON array.
  const query = async <T>(sql: string): Promise<T[]> => {
    const { stdout } = await run(join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', `SELECT coalesce(json_agg(q), '[]') FROM (${sql}) q`], {
      env: { ...process.env, ...env },
    });
    return JSON.parse(stdout) as T[];
  };
  return {
    host: dir,
    port,
    user,
    database,
    env,
    query,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
