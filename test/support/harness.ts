/** A real Temporal dev server, a real S3-compatible server and all workers, for integration tests. */
import { randomBytes } from 'node:crypto';
import { bundleWorkflowCode, DefaultLogger, Runtime, type Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { startDevStack, type DevStack } from '../../cli/stack/dev-stack';
import { ArtifactStore } from '../../core/store';
import type { Engines } from '../../stages/activity-table';
import type { StageVersions } from '../../stages/activity-table';
import { createWorkers, runWorkers, WORKFLOWS_PATH } from '../../workers/create-workers';
import { QUEUE_NAMES, type QueueName } from '../../stages/activity-table';

export interface Harness {
  stack: DevStack;
  store: ArtifactStore;
  close(): Promise<void>;
}

// Workers log every task at INFO; tests want errors only.
Runtime.install({ logger: new DefaultLogger('ERROR') });

let bundle: Promise<WorkflowBundle> | undefined;
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return bundle;
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

export interface HarnessOptions {
  engines: Partial<Engines>;
  concurrency?: Partial<Record<QueueName, number>>;
  /** Queues served; none = submitted workflows wait (for tests of submission alone). */
  queues?: readonly QueueName[];
  /** The stages' code versions the activities key units by (default: the code's own); read at each call. */
  versions?: StageVersions;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const stack = await startDevStack({ s3Port: 0 });
  const store = new ArtifactStore({
    endpoint: stack.s3!.endpoint,
    region: 'us-east-1',
    bucket: `test-${randomBytes(4).toString('hex')}`,
    prefix: 'exp',
    credentials: stack.s3!.credentials,
  });
  await store.ensureBucket();
  const workers: Worker[] = await createWorkers({
    connection: stack.nativeConnection,
    namespace: 'default',
    queues: options.queues ?? QUEUE_NAMES,
    activities: createActivities({ store, engines: options.engines, versions: options.versions }),
    concurrency: options.concurrency,
    workflowBundle: await workflowBundle(),
  });
  const running = runWorkers(workers);
  return {
    stack,
    store,
    async close() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running.catch(() => undefined);
      store.destroy();
      await stack.close();
    },
  };
}
