import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { ACTIVITY_NAMES, ACTIVITY_TABLE, activityOptions, QUEUE_NAMES, queueActivities, TASK_QUEUES } from '../../stages/activity-table';
import { ArtifactStore } from '../../core/store';
import { BadInputError } from '../../core/errors';
import type { PrepareDatasetInput } from '../../stages/contracts';

// Never contacted: the activities below fail before any artifact is read or written.
const store = new ArtifactStore({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'none', prefix: '' });
const input: PrepareDatasetInput = { experimentId: 'cmnist/1/0/x', dataset: { name: 'cmnist', ratio: 1, seed: 0, root: '/data' } };

const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = () => new MockActivityEnvironment({}, { logger: silent });

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('activity error classification', () => {
  it('a stage without an engine fails non-retryably, naming the stage', async () => {
    const activities = createActivities({ store, engines: {} });
    const failure = await failureOf(env().run(activities.prepareDataset, input));
    expect(failure.type).toBe('EngineMissing');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^stage prepareDataset has no engine on this worker/);
  });

  it('bad input from an engine becomes a non-retryable BadInput failure naming the file', async () => {
    // The cache lookup needs the store: give it one that answers "no such key" without a server.
    const offline = Object.assign(Object.create(ArtifactStore.prototype) as ArtifactStore, { getJson: async () => null });
    const activities = createActivities({
      store: offline,
      engines: { prepareDataset: async () => { throw new BadInputError('/data/cmnist/1pct/align/3/1_3_3.png', 'not an image'); } },
    });
    const failure = await failureOf(env().run(activities.prepareDataset, input));
    expect(failure).toMatchObject({ type: 'BadInput', nonRetryable: true, message: '/data/cmnist/1pct/align/3/1_3_3.png: not an image' });
    // What the workflow schedules the activity with must name the same type, or it would retry it.
    expect(activityOptions('prepareDataset').retry?.nonRetryableErrorTypes).toContain(failure.type);
  });

  it('a missing engine is never retried by the workflow either', async () => {
    const failure = await failureOf(env().run(createActivities({ store, engines: {} }).generateBatch, input as never));
    for (const name of ACTIVITY_NAMES) expect(activityOptions(name).retry?.nonRetryableErrorTypes).toContain(failure.type);
  });
});

describe('activity table (lib/activity-table.ts)', () => {
  it('names exactly the activities the workers have', () => {
    expect(Object.keys(createActivities({ store, engines: {} })).sort()).toEqual([...ACTIVITY_NAMES].sort());
  });

  it('each activity is registered on one queue, the one its workflow options send it to', () => {
    const registered = QUEUE_NAMES.flatMap((queue) => queueActivities(queue).map((name) => ({ name, queue })));
    expect(registered.map((r) => r.name).sort()).toEqual([...ACTIVITY_NAMES].sort());
    for (const { name, queue } of registered) expect(activityOptions(name).taskQueue).toBe(TASK_QUEUES[queue]);
    expect(queueActivities('workflow')).toEqual([]);
    expect(queueActivities('train')).toEqual(['trainClassifier', 'scoreLosses', 'evaluate', 'analyzeModels']);
  });

  it('stages that run for hours heartbeat, so a lost worker is noticed in minutes', () => {
    for (const name of ACTIVITY_NAMES) {
      const { heartbeatTimeout } = ACTIVITY_TABLE[name] as { heartbeatTimeout?: string };
      if (name !== 'writeReport') expect(heartbeatTimeout, name).toMatch(/^\d+m$/);
    }
  });
});
