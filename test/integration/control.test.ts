import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentIdentity, submitExperiment } from '../../cli/submit';
import { checkManifest, type Manifest } from '../../lib/artifacts/manifest';
import { parseExperimentConfig } from '../../lib/config/schema';
import { pauseSignal, progressQuery, resumeSignal, SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';

const doubles = doubleEngines({ captionDelayMs: 700, crashAfterEpoch: 2 });
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ engines: doubles.engines, concurrency: { caption: 2 } });
});
afterAll(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const config = (seed: number, extra: Record<string, unknown> = {}) =>
  parseExperimentConfig({
    dataset: 'cmnist', ratio: 2, seed, train: { epochs: 4 }, topK: { k: 6 }, caption: { concurrency: 2 },
    generate: { images: 4, batchSize: 2 }, vanilla: false, ...extra,
  });

const captionsStarted = () => doubles.log.started.filter((s) => s.startsWith('captionImage:')).length;

describe('control: pause, resume, cancel, retries', () => {
  it('pause stops new activities until resume', async () => {
    const { workflowId } = await submitExperiment(h.stack.client, config(1));
    const handle = h.stack.client.workflow.getHandle(workflowId);
    await waitFor('captions to start', async () => (captionsStarted() > 0 ? true : undefined));
    await handle.signal(pauseSignal);
    // Units already running finish; then nothing new may start.
    await sleep(2000);
    const frozen = captionsStarted();
    await sleep(2500);
    expect(captionsStarted()).toBe(frozen);
    expect(frozen).toBeLessThan(6);
    const progress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ stage: 'captionImage', paused: true });
    expect(progress.children).toHaveLength(1);
    expect(await h.stack.client.workflow.getHandle(progress.children[0]!).query(progressQuery)).toMatchObject({ paused: true });

    await handle.signal(resumeSignal);
    await handle.result();
    expect(captionsStarted()).toBe(6);
  });

  it('a training attempt lost after epoch 2 resumes from its checkpoint instead of starting over', () => {
    // The pause test's experiment trained f_B and f_D with a crash after epoch 2 on each first attempt.
    expect(doubles.log.epochs.filter((e) => e.startsWith('biased:'))).toEqual(['biased:1', 'biased:2', 'biased:3', 'biased:4']);
    expect(doubles.log.epochs.filter((e) => e.startsWith('debiased:'))).toEqual(['debiased:1', 'debiased:2', 'debiased:3', 'debiased:4']);
  });

  it('cancel ends the workflow cancelled and leaves every stored manifest complete', async () => {
    const cfg = config(2, { topK: { k: 40 }, caption: { concurrency: 2 } });
    const { workflowId, experimentId } = experimentIdentity(cfg);
    await submitExperiment(h.stack.client, cfg);
    const handle = h.stack.client.workflow.getHandle(workflowId);
    await waitFor('captions to start', async () => ((await handle.query(progressQuery)).stage === 'captionImage' ? true : undefined));
    await sleep(1500);
    await handle.cancel();
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.stage)).toBe('cancelled');

    const manifests = (await h.store.list(`runs/${experimentId}/`)).filter((k) => k.endsWith('/manifest.json'));
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.some((k) => k.includes('/filterCaptions/'))).toBe(false);
    for (const key of manifests) expect(await checkManifest(h.store, (await h.store.getJson<Manifest>(key))!)).toEqual([]);
  });

  it('bad input fails at once, not retried, naming the path', async () => {
    const cfg = config(3, { datasetRoot: '/data/missing' });
    const before = doubles.log.started.filter((s) => s.startsWith('prepareDataset')).length;
    const { workflowId } = await submitExperiment(h.stack.client, cfg);
    const error = await h.stack.client.workflow.getHandle(workflowId).result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const messages: string[] = [];
    for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) messages.push(e.message ?? '');
    expect(messages.join(' | ')).toContain('/data/missing/cmnist: no such folder');
    expect(doubles.log.started.filter((s) => s.startsWith('prepareDataset')).length).toBe(before + 1);
  });
});
