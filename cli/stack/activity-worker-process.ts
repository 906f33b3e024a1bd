import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { QueueName } from '../../stages/activity-table';

export interface ActivityWorkerProcess {
  pid: number | undefined;
  /** Resolves when the process exits on its own or after stop(); rejects if it dies unasked. */
  exited: Promise<void>;
  stop(): Promise<void>;
}

const BIN = join(__dirname, '..', '..', 'bin', 'diffubias.js');
const STOP_GRACE_MS = 30_000;

/**
 * `diffubias worker --queues …` as a child process. The dev stack runs the activity queues there
 * because training and diffusion hold the JS thread for seconds at a time: in the process that
 * also serves workflow tasks they made those tasks miss Temporal's 5 s deadline.
 */
export function spawnActivityWorker(options: {
  queues: readonly QueueName[];
  env: NodeJS.ProcessEnv;
  /** Pass on warnings and errors only. */
  quiet: boolean;
  log: (line: string) => void;
}): ActivityWorkerProcess {
  const args = [BIN, 'worker', '--queues', options.queues.join(','), ...(options.quiet ? ['--quiet'] : [])];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => options.log(line));
  }
  let stopping = false;
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (stopping || code === 0) resolve();
      else reject(new Error(`activity worker (${options.queues.join(', ')}) exited with ${signal ?? `code ${code}`}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return exited.catch(() => undefined);
    stopping = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited.catch(() => undefined);
    clearTimeout(timer);
  };
  return { pid: child.pid, exited, stop };
}

export interface SupervisedWorker {
  /** The running child's pid (changes on each restart). */
  readonly pid: number | undefined;
  /** How many times it was started again after dying unasked. */
  readonly restarts: number;
  /** Resolves after stop(), once the child is gone. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Waits between restarts: 1, 2, 4 ... 30 s; back to 1 s once a child has run for a minute. */
export interface RestartBackoff {
  first: number;
  max: number;
  resetAfter: number;
}

export const RESTART_BACKOFF_MS: Readonly<RestartBackoff> = { first: 1_000, max: 30_000, resetAfter: 60_000 };

/**
 * Keeps one activity worker process running: a child that dies unasked (killed, out of memory, a
 * native crash) is started again after a backoff, and the log says so. Its activities are retried
 * by Temporal once their heartbeat times out, by the new child or any other worker.
 */
export function superviseActivityWorker(options: Parameters<typeof spawnActivityWorker>[0], backoff: Readonly<RestartBackoff> = RESTART_BACKOFF_MS): SupervisedWorker {
  let current = spawnActivityWorker(options);
  let restarts = 0;
  let stopping = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    let delay: number = backoff.first;
    for (;;) {
      const started = Date.now();
      const crash = await current.exited.then(() => undefined, (err: Error) => err);
      if (stopping) return;
      if (Date.now() - started > backoff.resetAfter) delay = backoff.first;
      const why = crash ? crash.message : `activity worker (${options.queues.join(', ')}) exited by itself`;
      options.log(`${why}; restarting it in ${(delay / 1000).toFixed(0)} s (restart ${restarts + 1})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = undefined;
      if (stopping) return;
      delay = Math.min(delay * 2, backoff.max);
      restarts++;
      current = spawnActivityWorker(options);
    }
  })();
  return {
    get pid() { return current.pid; },
    get restarts() { return restarts; },
    done: loop,
    async stop() {
      stopping = true;
      wake?.();
      await current.stop();
      await loop;
    },
  };
}
