/**
 * Task queues per resource, so GPU training, GPU inference and CPU work scale (and are imaged)
 * separately. Pure constants: the workflows import this too.
 */
export const QUEUE_NAMES = ['workflow', 'cpu', 'train', 'caption', 'generate'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const TASK_QUEUES: Readonly<Record<QueueName, string>> = {
  workflow: 'diffubias-workflow',
  cpu: 'diffubias-cpu',
  train: 'diffubias-train',
  caption: 'diffubias-caption',
  generate: 'diffubias-generate',
};

/** Which activities each queue serves. */
export const QUEUE_ACTIVITIES = {
  workflow: [],
  cpu: ['prepareDataset', 'selectTopK', 'filterCaptions', 'writeReport'],
  train: ['trainClassifier', 'scoreLosses', 'evaluate'],
  caption: ['captionImage'],
  generate: ['generateBatch'],
} as const satisfies Record<QueueName, readonly string[]>;

/** Activities run at once per worker and queue; a GPU queue defaults to one at a time. */
export const DEFAULT_CONCURRENCY: Readonly<Record<QueueName, number>> = {
  workflow: 50,
  cpu: 4,
  train: 1,
  caption: 2,
  generate: 1,
};
