import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentIdentity, submitExperiment } from '../../cli/submit';
import { checkManifest, type Manifest } from '../../stages/runner/manifest';
import type { UnitPointer } from '../../stages/runner/stage-runner';
import { parseExperimentConfig } from '../../stages/config/schema';
import { pauseSignal, progressQuery, resumeSignal, SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';
import { until } from '../support/wait';

const doubles = doubleEngines({ captionDelayMs: 700, crashAfterEpoch: 2 });
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ engines: doubles.engines, concurrency: { caption: 2 } });
});
afterAll(async () => {
  await h?.close();
});

const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) => until(what, probe, timeoutMs, 50);

/**
 * A workflow with no activity running and no workflow task pending has nothing left to react to:
 * it can only move again on a new event (a signal). Seen from the server, not from timing.
 */
async function idle(handle: WorkflowHandle): Promise<true | undefined> {
  const { raw } = await handle.describe();
  return (raw.pendingActivities ?? []).length === 0 && !raw.pendingWorkflowTask ? true : undefined;
}

const config = (seed: number, extra: Record<string, unknown> = {}) =>
  parseExperimentConfig({
    dataset: 'cmnist', ratio: 2, seed, train: { epochs: 4 }, topK: { k: 6 }, caption: { concurrency: 2, batchSize: 1 },
    generate: { images: 4, batchSize: 2 }, vanilla: false, ...extra,
  });

const started = (stage: string) => doubles.log.started.filter((s) => s.startsWith(`${stage}:`)).length;

describe('control: pause, resume, cancel, retries', () => {
  it('pause stops new activities until resume', async () => {
    const before = started('captionImage');
    const { workflowId } = await submitExperiment(h.stack.client, config(1));
    const handle = h.stack.client.workflow.getHandle(workflowId);
    await waitFor('captions to start', async () => (started('captionImage') > before ? true : undefined));
    await handle.signal(pauseSignal);
    const progress = await waitFor('the pause to reach the fan-out', async () => {
      const p = await handle.query(progressQuery);
      return p.paused && p.children.length === 1 ? p : undefined;
    });
    expect(progress).toMatchObject({ stage: 'captionImage', paused: true });
    const child = h.stack.client.workflow.getHandle(progress.children[0]!);
    expect(await child.query(progressQuery)).toMatchObject({ paused: true });
    // Units already running finish; then the child schedules nothing more while paused.
    await waitFor('the paused fan-out to go idle', () => idle(child));
    const frozen = started('captionImage') - before;
    expect(frozen).toBeLessThan(6);
    expect(await idle(child)).toBe(true);
    expect(started('captionImage') - before).toBe(frozen);

    await handle.signal(resumeSignal);
    await handle.result();
    expect(started('captionImage') - before).toBe(6);
  });

  it('a training attempt lost after epoch 2 resumes from its checkpoint instead of starting over', async () => {
    // The doubles lose the worker after epoch 2 on the first attempt of every training run.
    const cfg = config(4);
    const { workflowId, experimentId } = experimentIdentity(cfg);
    await submitExperiment(h.stack.client, cfg);
    await h.stack.client.workflow.getHandle(workflowId).result();
    for (const role of ['biased', 'debiased']) {
      const epochs = doubles.log.epochs.filter((e) => e.startsWith(`${experimentId}:${role}:`)).map((e) => Number(e.split(':').pop()));
      expect(epochs, role).toEqual([1, 2, 3, 4]);
    }
  });

  it('cancel ends the workflow cancelled and leaves every stored manifest complete', async () => {
    const cfg = config(2, { topK: { k: 40 }, caption: { concurrency: 2, batchSize: 1 } });
    const { workflowId, experimentId } = experimentIdentity(cfg);
    await submitExperiment(h.stack.client, cfg);
    const handle = h.stack.client.workflow.getHandle(workflowId);
    const before = started('captionImage');
    await waitFor('captions to start', async () => ((await handle.query(progressQuery)).stage === 'captionImage' ? true : undefined));
    await waitFor('two captions to run', async () => (started('captionImage') - before >= 2 ? true : undefined));
    await handle.cancel();
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.stage)).toBe('cancelled');

    // The units it used, through its pointers (the units themselves live under stages/, shared).
    const pointerKeys = await h.store.list(`runs/${experimentId}/`);
    const manifests = await Promise.all(pointerKeys.map(async (k) => (await h.store.getJson<UnitPointer>(k))!.manifestKey));
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.some((k) => k.includes('/filterCaptions/'))).toBe(false);
    for (const key of manifests) expect(await checkManifest(h.store, (await h.store.getJson<Manifest>(key))!)).toEqual([]);
  });

  it('bad input fails at once, not retried, naming the path', async () => {
    const cfg = config(3, { datasetRoot: '/data/missing' });
    const before = started('prepareDataset');
    const { workflowId } = await submitExperiment(h.stack.client, cfg);
    const error = await h.stack.client.workflow.getHandle(workflowId).result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const messages: string[] = [];
    for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) messages.push(e.message ?? '');
    expect(messages.join(' | ')).toContain('/data/missing/cmnist: no such folder');
    expect(started('prepareDataset')).toBe(before + 1);
  });
});
