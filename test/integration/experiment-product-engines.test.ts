import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReportFiles } from '../../cli/report-files';
import { submitExperiment } from '../../cli/submit';
import { parseExperimentConfig } from '../../lib/config/schema';
import { productEngines } from '../../lib/engines/product';
import type { Manifest } from '../../lib/artifacts/manifest';
import type { ExperimentResult, TrainClassifierOutput } from '../../lib/pipeline';
import { startHarness, type Harness } from '../support/harness';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

let h: Harness;
const fixtures = join(__dirname, '..', 'fixtures');
const root = mkdtempSync(join(tmpdir(), 'experiment-classifier-'));

beforeAll(async () => {
  await writeSyntheticCmnist(root);
  // Every engine is the product's; only the models are the tiny random-weight test bundles.
  h = await startHarness({ engines: productEngines() });
});
afterAll(async () => {
  await h?.close();
});

describe('experiment workflow with every product engine (tiny random-weight bundles)', () => {
  it('trains f_B and the baseline, selects, captions, filters, generates, retrains and evaluates', async () => {
    const config = parseExperimentConfig({
      dataset: 'cmnist', ratio: 1, seed: 0, datasetRoot: root,
      train: { epochs: 3, batchSize: 16, lr: 0.005 }, topK: { k: 8 },
      caption: { model: join(fixtures, 'tiny-captioner') },
      generate: { model: join(fixtures, 'tiny-sd'), images: 6, batchSize: 3, steps: 4, repeat: 2 },
    });
    const { workflowId } = await submitExperiment(h.stack.client, config);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    expect(Object.keys(result.accuracy).sort()).toEqual(['biased', 'debiased', 'vanilla']);
    for (const acc of Object.values(result.accuracy)) expect(acc.unbiased).toBeGreaterThanOrEqual(0);
    expect(result.topK).toMatchObject({ k: 8, selected: 8 });
    expect(result.topK.precision).toBeGreaterThanOrEqual(0);
    expect(result.captions.images).toBe(8);
    expect(result.captions.kept + result.captions.dropped).toBe(24);
    expect(result.captions.topWords.length).toBeGreaterThan(0);
    expect(result.generated).toBe(result.captions.kept > 0 ? 6 : 0);
    // f_D saw the training split plus every generated image twice per epoch.
    const trained = async (role: 'biased' | 'debiased') =>
      (await h.store.getJson<Manifest<TrainClassifierOutput>>(result.artifacts!.models[role]!.replace(/model\.bin$/, 'manifest.json')))!.outputs.trainImages;
    expect(await trained('debiased')).toBe((await trained('biased')) + 2 * result.generated);
    const report = await h.store.getJson<ExperimentResult>(result.reportKey);
    expect(report?.accuracy).toEqual(result.accuracy);

    // The demo's report: results.json and a self-contained HTML page with every section.
    const files = await writeReportFiles(h.store, result, join(root, 'report'));
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ experimentId: result.experimentId });
    const html = readFileSync(files.html, 'utf8');
    for (const heading of ['Test accuracy', 'Top-8 highest-loss training images', 'Captions', 'Generated samples']) expect(html).toContain(heading);
    expect(html.match(/src="data:image\/png;base64,/g)?.length).toBe(8 + Math.min(result.generated, 8 * 10));
  });
});
