import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** A long-running cluster process, started detached so that it outlives `cluster up`. */
export interface ManagedProcess {
  name: string;
  pid: number;
  /** A string its command line contains, so that a reused pid is not taken for it. */
  marker: string;
  log: string;
}

/** True while `pid` runs and is still the process that was started (its command line has `marker`). */
export function isRunning(proc: Pick<ManagedProcess, 'pid' | 'marker'>): boolean {
  try {
    process.kill(proc.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0').join(' ');
    if (!cmdline.includes(proc.marker)) return false;
    const state = /\) (\w)/.exec(readFileSync(`/proc/${proc.pid}/stat`, 'utf8'))?.[1];
    return state !== 'Z';
  } catch {
    // No /proc (macOS): the signal check above is all there is.
    return true;
  }
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  log: string;
  /** Defaults to the command path. */
  marker?: string;
}

/** Starts a process in its own session, appending stdout and stderr to `log`. */
export function startDetached(options: StartOptions): ManagedProcess {
  const fd = openSync(options.log, 'a');
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
    child.unref();
    return { name: options.name, pid: child.pid, marker: options.marker ?? options.command, log: options.log };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(proc: ManagedProcess, graceMs = 15_000): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isRunning(proc)) return 'not running';
  signal(proc.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) return 'stopped';
    await sleep(200);
  }
  signal(proc.pid, 'SIGKILL');
  while (isRunning(proc)) await sleep(100);
  return 'killed';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone between the check and the signal.
  }
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `ready` until it is true, failing with `what` and the log's last lines after `timeoutMs`. */
export async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number, options: { log?: string; alive?: () => boolean } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (options.alive && !options.alive()) throw new Error(`${what}: the process exited${tail(options.log)}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${Math.round(timeoutMs / 1000)} s${tail(options.log)}`);
    await sleep(500);
  }
}

function tail(log: string | undefined): string {
  if (!log) return '';
  try {
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-8);
    return `; the end of ${log}:\n  ${lines.join('\n  ')}`;
  } catch {
    return '';
  }
}

/** Runs a command to completion; throws with its output when it fails. */
export function runTool(what: string, command: string, args: readonly string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new Error(`${what}: ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n  ');
    throw new Error(`${what}: ${command} ${args.join(' ')} exited with ${result.status}:\n  ${output}`);
  }
  return String(result.stdout ?? '');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
