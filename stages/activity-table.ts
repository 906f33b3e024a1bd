import { ActivityCancellationType, type ActivityOptions } from '@temporalio/common';

/**
 * Where and how each activity runs: its task queue, timeouts, retry policy and the failure types
 * never retried. The one table both sides read: workflows build their activity options from it,
 * workers register on each queue the activities it assigns there, and the activity wrapper throws
 * the failure types it names. Pure constants, so workflow code can import it.
 */

/** Task queues per resource, so GPU training, GPU inference and CPU work scale (and are imaged) separately. */
export const QUEUE_NAMES = ['workflow', 'cpu', 'train', 'caption', 'generate'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const TASK_QUEUES: Readonly<Record<QueueName, string>> = {
  workflow: 'diffubias-workflow',
  cpu: 'diffubias-cpu',
  train: 'diffubias-train',
  caption: 'diffubias-caption',
  generate: 'diffubias-generate',
};

/** Activities run at once per worker and queue; a GPU queue defaults to one at a time. */
export const DEFAULT_CONCURRENCY: Readonly<Record<QueueName, number>> = {
  workflow: 50,
  cpu: 4,
  train: 1,
  caption: 2,
  generate: 1,
};

/** Failure types the workflows never retry: bad input (config, data) and a stage this worker cannot run. */
export const NON_RETRYABLE = { badInput: 'BadInput', engineMissing: 'EngineMissing' } as const;

interface ActivityPlacement {
  queue: Exclude<QueueName, 'workflow'>;
  startToCloseTimeout: ActivityOptions['startToCloseTimeout'];
  /** Long stages heartbeat; a missed heartbeat means a lost worker. */
  heartbeatTimeout?: ActivityOptions['heartbeatTimeout'];
}

export const ACTIVITY_TABLE = {
  prepareDataset: { queue: 'cpu', startToCloseTimeout: '2h', heartbeatTimeout: '5m' },
  trainClassifier: { queue: 'train', startToCloseTimeout: '48h', heartbeatTimeout: '10m' },
  scoreLosses: { queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '5m' },
  evaluate: { queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '5m' },
  selectTopK: { queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '5m' },
  captionImage: { queue: 'caption', startToCloseTimeout: '30m', heartbeatTimeout: '5m' },
  filterCaptions: { queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '5m' },
  generateBatch: { queue: 'generate', startToCloseTimeout: '4h', heartbeatTimeout: '10m' },
  writeReport: { queue: 'cpu', startToCloseTimeout: '5m' },
} as const satisfies Record<string, ActivityPlacement>;

export type ActivityName = keyof typeof ACTIVITY_TABLE;
export const ACTIVITY_NAMES = Object.keys(ACTIVITY_TABLE) as ActivityName[];

const RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: Object.values(NON_RETRYABLE),
};

/** The options a workflow schedules an activity with. */
export function activityOptions(name: ActivityName): ActivityOptions {
  const { queue, ...timeouts } = ACTIVITY_TABLE[name] as ActivityPlacement;
  return {
    taskQueue: TASK_QUEUES[queue],
    ...timeouts,
    retry: RETRY,
    // A cancelled workflow waits for its running activities to stop (they learn of it through
    // their heartbeats), so nothing writes to S3 after the workflow has closed.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

/** The activities a queue's workers register: those the table places there. */
export function queueActivities(queue: QueueName): ActivityName[] {
  return ACTIVITY_NAMES.filter((name) => ACTIVITY_TABLE[name].queue === queue);
}
