import { resolve } from 'node:path';
import type { Settings } from '../../core/settings';
import { startProductWorkers } from '../../workers/product-worker';
import { QUEUE_NAMES } from '../../stages/activity-table';
import { superviseActivityWorker } from '../stack/activity-worker-process';
import { startDevStack, type DevStack } from '../stack/dev-stack';

export const UI_PORT = 8233;
export const TEMPORAL_PORT = 7233;
export const EMBEDDED_S3_PORT = 4568;

export interface RunningDev {
  stack: DevStack;
  /** Resolves when the workers stop (a dead activity worker process is restarted, not reported here). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The whole local stack: Temporal dev server (SQLite under the home folder, Web UI), the embedded
 * S3 (objects under the home folder), the workflow worker in this process and one child process
 * serving every activity queue, started again whenever it dies.
 */
export async function startDev(settings: Settings, log: (line: string) => void, options: { quiet: boolean }): Promise<RunningDev> {
  const [host, port] = settings.temporal.address.split(':');
  if (!['localhost', '127.0.0.1'].includes(host ?? '')) {
    throw new Error(`TEMPORAL_ADDRESS=${settings.temporal.address}: the dev stack runs on this machine; unset it or use localhost`);
  }
  const stack = await startDevStack({
    home: settings.home,
    port: Number(port) || TEMPORAL_PORT,
    uiPort: UI_PORT,
    s3Port: settings.embeddedS3 ? EMBEDDED_S3_PORT : undefined,
    bucket: settings.s3.bucket,
    log,
  });
  log(`Temporal at ${stack.address}; history in ${resolve(settings.home, 'temporal.db')}`);
  log(`Web UI at http://localhost:${UI_PORT}`);
  if (stack.s3) log(`embedded S3 at ${stack.s3.endpoint}; objects in ${resolve(settings.home, 's3')}`);
  const [workflowQueues, activityQueues] = [QUEUE_NAMES.filter((q) => q === 'workflow'), QUEUE_NAMES.filter((q) => q !== 'workflow')];
  const { workers, done: workflowsDone } = await startProductWorkers({ settings, queues: workflowQueues, connection: stack.nativeConnection, log });
  const activityWorker = superviseActivityWorker({
    queues: activityQueues,
    env: { ...process.env, TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: settings.temporal.namespace },
    quiet: options.quiet,
    log,
  });
  const done = Promise.all([workflowsDone, activityWorker.done]).then(() => undefined);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await activityWorker.stop();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
      await stack.close();
    })();
    return stopping;
  };
  return { stack, done, stop };
}
