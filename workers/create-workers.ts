import { join } from 'node:path';
import { Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import type { Activities } from '../activities';
import { DEFAULT_CONCURRENCY, queueActivities, TASK_QUEUES, type QueueName } from '../stages/activity-table';

export interface WorkerSetOptions {
  connection: NativeConnection;
  namespace: string;
  queues: readonly QueueName[];
  activities: Activities;
  concurrency?: Partial<Record<QueueName, number>>;
  /** A prebuilt workflow bundle (tests reuse one); absent = bundle workflows/ now. */
  workflowBundle?: WorkflowBundle;
  /** The workers' Temporal identity; absent = the SDK's `<pid>@<host>`. */
  identity?: string;
}

export const WORKFLOWS_PATH = join(__dirname, '..', 'workflows', 'index.ts');

/** One Temporal worker per task queue, in this process; each serves only its queue's activities. */
export async function createWorkers(options: WorkerSetOptions): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (const queue of options.queues) {
    const names = queueActivities(queue);
    const activities = Object.fromEntries(names.map((name) => [name, options.activities[name]]));
    const concurrency = options.concurrency?.[queue] ?? DEFAULT_CONCURRENCY[queue];
    workers.push(
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: TASK_QUEUES[queue],
        ...(options.identity ? { identity: options.identity } : {}),
        ...(queue === 'workflow'
          ? {
              ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
              maxConcurrentWorkflowTaskExecutions: concurrency,
            }
          : {
              activities,
              maxConcurrentActivityTaskExecutions: concurrency,
              // Heartbeats carry progress (epoch, step, images done) and deliver cancellation: send
              // them every 10 s rather than the SDK's default of up to 60 s.
              maxHeartbeatThrottleInterval: '10s',
              defaultHeartbeatThrottleInterval: '10s',
            }),
      }),
    );
  }
  return workers;
}

/** Runs the workers until one fails or all are shut down; a failure stops the others too. */
export async function runWorkers(workers: readonly Worker[]): Promise<void> {
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  }
}
