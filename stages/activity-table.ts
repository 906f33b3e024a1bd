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

/**
 * Heartbeat timeouts of a minute: a lost worker's activity is retried elsewhere within about a
 * minute. Attempts heartbeat every 10 s while they run (the activity layer re-sends the last
 * progress even when a stage reports none), so a minute is six missed beats, not a slow epoch.
 */
export const ACTIVITY_TABLE = {
  prepareDataset: { queue: 'cpu', startToCloseTimeout: '2h', heartbeatTimeout: '1m' },
  trainClassifier: { queue: 'train', startToCloseTimeout: '48h', heartbeatTimeout: '1m' },
  scoreLosses: { queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '1m' },
  evaluate: { queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '1m' },
  analyzeModels: { queue: 'train', startToCloseTimeout: '2h', heartbeatTimeout: '1m' },
  selectTopK: { queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '1m' },
  captionImage: { queue: 'caption', startToCloseTimeout: '30m', heartbeatTimeout: '1m' },
  filterCaptions: { queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '1m' },
  generateBatch: { queue: 'generate', startToCloseTimeout: '4h', heartbeatTimeout: '1m' },
  // Rendering the page reads every generated image once (their colours): minutes for tens of thousands.
  writeReport: { queue: 'cpu', startToCloseTimeout: '30m' },
} as const satisfies Record<string, ActivityPlacement>;

export type ActivityName = keyof typeof ACTIVITY_TABLE;
export const ACTIVITY_NAMES = Object.keys(ACTIVITY_TABLE) as ActivityName[];

/**
 * 2, 4, 8, ... 64 s, then 2 min between attempts: eight attempts span about four minutes, so an
 * S3 or Temporal outage of a minute or two costs retries, not the run.
 */
export const RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 8,
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
