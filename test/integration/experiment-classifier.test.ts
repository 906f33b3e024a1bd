import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitExperiment } from '../../cli/submit';
import { parseExperimentConfig } from '../../lib/config/schema';
import { productEngines } from '../../lib/engines/product';
import type { ExperimentResult } from '../../lib/pipeline';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

let h: Harness;
const root = mkdtempSync(join(tmpdir(), 'experiment-classifier-'));

beforeAll(async () => {
  await writeSyntheticCmnist(root);
  // The product's engines where they exist (dataset, classifier, top-K, filter); test doubles only
  // for the captioner and the generator.
  h = await startHarness({ engines: { ...doubleEngines().engines, ...productEngines() } });
});
afterAll(async () => {
  await h?.close();
});

describe('experiment workflow with the real classifier engines', () => {
  it('trains f_B, the baseline and f_D, selects by loss, filters captions and evaluates all three', async () => {
    const config = parseExperimentConfig({
      dataset: 'cmnist', ratio: 1, seed: 0, datasetRoot: root,
      train: { epochs: 3, batchSize: 16, lr: 0.005 }, topK: { k: 8 }, generate: { images: 6, batchSize: 3 },
    });
    const { workflowId } = await submitExperiment(h.stack.client, config);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    expect(Object.keys(result.accuracy).sort()).toEqual(['biased', 'debiased', 'vanilla']);
    for (const acc of Object.values(result.accuracy)) expect(acc.unbiased).toBeGreaterThanOrEqual(0);
    expect(result.topK).toMatchObject({ k: 8, selected: 8 });
    expect(result.topK.precision).toBeGreaterThanOrEqual(0);
    expect(result.captions.topWords[0]).toEqual({ word: 'handwritten', count: 24 });
    expect(result.generated).toBe(6);
    const report = await h.store.getJson<ExperimentResult>(result.reportKey);
    expect(report?.accuracy).toEqual(result.accuracy);
  });
});
