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
