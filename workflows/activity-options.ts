import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { ActivityName } from '../activities';
import { TASK_QUEUES } from '../workers/queues';

// Mirrors NON_RETRYABLE_TYPES in activities/run-stage-activity.ts (workflow code cannot import it:
// that module pulls in the activity runtime).
const retry = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['BadInput', 'EngineMissing'],
};

// A cancelled workflow waits for its running activities to stop (they learn of it through their
// heartbeats), so nothing writes to S3 after the workflow has closed.
const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

/** Queue, timeouts and retries per stage. Long stages heartbeat; a missed heartbeat means a lost worker. */
export const ACTIVITY_OPTIONS: Readonly<Record<ActivityName, ActivityOptions>> = {
  prepareDataset: { taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '2h', heartbeatTimeout: '5m', retry, cancellationType },
  trainClassifier: { taskQueue: TASK_QUEUES.train, startToCloseTimeout: '48h', heartbeatTimeout: '10m', retry, cancellationType },
  scoreLosses: { taskQueue: TASK_QUEUES.train, startToCloseTimeout: '4h', heartbeatTimeout: '5m', retry, cancellationType },
  evaluate: { taskQueue: TASK_QUEUES.train, startToCloseTimeout: '4h', heartbeatTimeout: '5m', retry, cancellationType },
  selectTopK: { taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '30m', heartbeatTimeout: '5m', retry, cancellationType },
  captionImage: { taskQueue: TASK_QUEUES.caption, startToCloseTimeout: '30m', heartbeatTimeout: '5m', retry, cancellationType },
  filterCaptions: { taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '30m', heartbeatTimeout: '5m', retry, cancellationType },
  generateBatch: { taskQueue: TASK_QUEUES.generate, startToCloseTimeout: '4h', heartbeatTimeout: '10m', retry, cancellationType },
  writeReport: { taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '5m', retry, cancellationType },
};
