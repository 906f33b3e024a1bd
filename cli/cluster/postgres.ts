import { existsSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { CLUSTER_HOST, CLUSTER_PORTS } from './pins';
import { portOpen, runTool, waitFor } from './processes';

/** PostgreSQL's programs, from Debian's packages (`apt-get install postgresql`). */
function pgBin(program: string): string {
  for (const dir of ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']) {
    if (existsSync(join(dir, program))) return join(dir, program);
  }
  return program;
}

export interface PostgresPaths {
  data: string;
  socketDir: string;
  log: string;
}

export function postgresPaths(root: string): PostgresPaths {
  return { data: join(root, 'postgres', 'data'), socketDir: join(root, 'postgres', 'run'), log: join(root, 'logs', 'postgres.log') };
}

/** PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user Debian's package makes. */
function asServerUser(program: string, args: readonly string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [pgBin(program), [...args]];
  return ['runuser', ['-u', 'postgres', '--', pgBin(program), ...args]];
}

async function serverUserOwns(path: string): Promise<void> {
  if (userInfo().uid !== 0) return;
  const id = runTool('looking up the postgres user', 'id', ['-u', 'postgres']).trim();
  const gid = runTool('looking up the postgres group', 'id', ['-g', 'postgres']).trim();
  await chown(path, Number(id), Number(gid));
}

/**
 * Starts the cluster's PostgreSQL on loopback (initialising its folder the first time), with a
 * `temporal` role that owns the two databases Temporal uses. Idempotent.
 */
export async function startPostgres(root: string, password: string, log: (line: string) => void): Promise<void> {
  const paths = postgresPaths(root);
  if (await portOpen(CLUSTER_PORTS.postgres, CLUSTER_HOST)) {
    log(`postgres: already running on ${CLUSTER_HOST}:${CLUSTER_PORTS.postgres}`);
    return;
  }
  await mkdir(join(root, 'logs'), { recursive: true });
  for (const dir of [join(root, 'postgres'), paths.socketDir]) {
    await mkdir(dir, { recursive: true });
    await serverUserOwns(dir);
  }
  if (!existsSync(join(paths.data, 'PG_VERSION'))) {
    log(`postgres: initialising ${paths.data}`);
    const pwfile = join(root, 'postgres', 'superuser-password');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    await serverUserOwns(pwfile);
    const [cmd, args] = asServerUser('initdb', ['-D', paths.data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8']);
    runTool('postgres initdb (PostgreSQL comes from Debian\'s packages: apt-get install -y postgresql)', cmd, args);
  }
  await writeFile(paths.log, '', { flag: 'a' });
  await serverUserOwns(paths.log);
  const options = `-c listen_addresses=${CLUSTER_HOST} -p ${CLUSTER_PORTS.postgres} -k ${paths.socketDir} -c max_connections=200`;
  const [cmd, args] = asServerUser('pg_ctl', ['-D', paths.data, '-l', paths.log, '-o', options, '-w', '-t', '60', 'start']);
  runTool('postgres start', cmd, args);
  await waitFor('postgres', () => portOpen(CLUSTER_PORTS.postgres, CLUSTER_HOST), 30_000, { log: paths.log });
  log(`postgres: running on ${CLUSTER_HOST}:${CLUSTER_PORTS.postgres}`);
}

/** Stops it (fast shutdown: running transactions are rolled back, nothing committed is lost). */
export function stopPostgres(root: string, log: (line: string) => void): void {
  const paths = postgresPaths(root);
  if (!existsSync(join(paths.data, 'postmaster.pid'))) {
    log('postgres: not running');
    return;
  }
  const [cmd, args] = asServerUser('pg_ctl', ['-D', paths.data, '-m', 'fast', '-w', 'stop']);
  runTool('postgres stop', cmd, args);
  log('postgres: stopped');
}

/** Runs SQL as the superuser over TCP (the password comes from PGPASSWORD, never the command line). */
export function psql(sql: string, password: string, database = 'postgres'): string {
  return runTool('postgres', pgBin('psql'), ['-h', CLUSTER_HOST, '-p', String(CLUSTER_PORTS.postgres), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], {
    env: { ...process.env, PGPASSWORD: password },
  });
}
