import { NativeConnection, type Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { ArtifactStore } from '../core/store';
import { productEngines } from '../stages/product-engines';
import type { Settings } from '../core/settings';
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
  await store.ensureBucket();
  const engines = productEngines();
  const connection = options.connection ?? (await NativeConnection.connect({ address: settings.temporal.address }));
  const workers = await createWorkers({
    connection,
    namespace: settings.temporal.namespace,
    queues: options.queues,
    activities: createActivities({ store, engines }),
    concurrency: options.concurrency,
  });
  log(`worker serving ${options.queues.join(', ')} (artifacts in ${store.uri('')})`);
  return { workers, done: runWorkers(workers).finally(() => store.destroy()) };
}
