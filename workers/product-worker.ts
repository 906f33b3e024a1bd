import { NativeConnection, type Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { ArtifactStore } from '../core/store';
import { productEngines } from '../stages/product-stages';
import { workerSettingsFromEnv, type Settings } from '../core/settings';
import { hostname } from 'node:os';
import { createWorkers, runWorkers } from './create-workers';
import type { QueueName } from '../stages/activity-table';

export interface ProductWorkerOptions {
  settings: Settings;
  queues: readonly QueueName[];
  concurrency?: Partial<Record<QueueName, number>>;
  /** Reuse a connection (the dev stack's); absent = connect to settings.temporal.address. */
  connection?: NativeConnection;
  log: (line: string) => void;
}

/** The workers of `diffubias worker` and `diffubias dev`: the product engines, nothing else. */
export async function startProductWorkers(options: ProductWorkerOptions): Promise<{ workers: Worker[]; done: Promise<void> }> {
  const { settings, log } = options;
  const store = new ArtifactStore(settings.s3);
  await untilStoreAnswers(store, log);
  const engines = productEngines();
  const connection = options.connection ?? (await NativeConnection.connect({ address: settings.temporal.address }));
  const { workerName } = workerSettingsFromEnv();
  const workers = await createWorkers({
    connection,
    namespace: settings.temporal.namespace,
    queues: options.queues,
    activities: createActivities({ store, engines }),
    concurrency: options.concurrency,
    ...(workerName ? { identity: workerIdentity(workerName) } : {}),
  });
  log(`worker serving ${options.queues.join(', ')} (artifacts in ${store.uri('')})`);
  return { workers, done: runWorkers(workers).finally(() => store.destroy()) };
}

/** The SDK's `<pid>@<host>` with the worker's name after it: what the Web UI and the fault suites read. */
export function workerIdentity(name: string): string {
  return `${process.pid}@${hostname()}/${name}`;
}

/**
 * Waits for the artifact store: a worker started while S3 is down (a cluster coming up in any
 * order, an outage) waits and says so, rather than exiting. 1, 2, 4 ... 30 s between tries.
 */
export async function untilStoreAnswers(store: ArtifactStore, log: (line: string) => void, maxDelayMs = 30_000): Promise<void> {
  let delay = 1000;
  for (;;) {
    try {
      await store.ensureBucket();
      return;
    } catch (err) {
      log(`S3 at ${store.settings.endpoint ?? 'AWS'} not answering (${(err as Error).message ?? (err as Error).name}); trying again in ${delay / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
