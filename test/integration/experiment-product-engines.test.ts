import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANALYSIS } from '../../stages/analyze-models';
import { readArtifact } from '../../stages/artifacts';
import { INSPECTION } from '../../stages/inspect-generated';
import { writeReportFiles } from '../../cli/report-files';
import { submitExperiment } from '../../cli/submit';
import { parseExperimentConfig } from '../../stages/config/schema';
import { productEngines } from '../../stages/product-stages';
import { manifestKeyOf, readManifest } from '../../stages/runner/manifest';
import type { ExperimentResult, TrainClassifierOutput } from '../../stages/contracts';
import { lossTableFromCsv } from '../../engines/selection/loss-table';
import { isConflicting, type TopKSelection } from '../../engines/selection/top-k';
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
    for (const acc of Object.values(result.accuracy)) {
      // The unbiased test set mixes aligned and conflicting images: its accuracy lies between theirs.
      for (const v of [acc.unbiased, acc.aligned, acc.conflicting]) expect(v >= 0 && v <= 100).toBe(true);
      expect(acc.unbiased).toBeGreaterThanOrEqual(Math.min(acc.aligned, acc.conflicting) - 1e-9);
      expect(acc.unbiased).toBeLessThanOrEqual(Math.max(acc.aligned, acc.conflicting) + 1e-9);
    }
    expect(result.topK).toMatchObject({ k: 8, selected: 8 });
    // The selection is the table's 8 highest losses (config.topK.score), and its precision their conflicting share.
    const table = lossTableFromCsv((await h.store.get(result.artifacts!.tableKey!))!.toString('utf8'), 'table');
    const selection = (await h.store.getJson<TopKSelection>(result.artifacts!.selectionKey!))!;
    const score = config.topK.score;
    const highest = [...table].sort((a, b) => b[score] - a[score] || (a.file < b.file ? -1 : 1)).slice(0, 8);
    expect(selection.rows.map((r) => r.file).sort()).toEqual(highest.map((r) => r.file).sort());
    expect(result.topK!.precision).toBe(highest.filter(isConflicting).length / 8);
    expect(result.captions!.images).toBe(8);
    expect(result.captions!.kept + result.captions!.dropped).toBe(24);
    expect(result.captions!.topWords.length).toBeGreaterThan(0);
    // The tiny captioner's words pass the filter at seed 0, so the generator and f_D's extra data run.
    expect(result.captions!.kept).toBeGreaterThan(0);
    expect(result.generated).toBe(6);
    // f_D saw the training split plus every generated image twice per epoch.
    const trained = async (role: 'biased' | 'debiased') =>
      (await readManifest(h.store, manifestKeyOf<TrainClassifierOutput>(result.artifacts!.models[role]!)))!.outputs.trainImages;
    expect(await trained('debiased')).toBe((await trained('biased')) + 2 * result.generated!);
    const report = await h.store.getJson<ExperimentResult>(result.reportKey);
    expect(report?.accuracy).toEqual(result.accuracy);

    // The demo's report: results.json and a self-contained HTML page with every section.
    const files = await writeReportFiles(h.store, result, join(root, 'report'));
    expect(files.stored).toBe(true);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ experimentId: result.experimentId });
    const html = readFileSync(files.html, 'utf8');
    for (const heading of ['Test accuracy', 'Training', "f_B's loss on the training set", 'Top-8 highest-loss training images', 'Captions', 'Generated samples', 'What the models look at', 'Stages: time, reuse, energy']) expect(html).toContain(heading);
    // The analysis ran on the real engines: saliency of both models on the same images, an embedding;
    // the inspection of the generated set, the judge and the colours.
    const analysis = await readArtifact(h.store, ANALYSIS, result.artifacts!.analysisKey!);
    const { judge, colours } = await readArtifact(h.store, INSPECTION, result.artifacts!.inspectionKey!);
    expect(analysis.saliency.images.length).toBeGreaterThan(0);
    expect(html.match(/class="sal"/g)?.length).toBe(3 * analysis.saliency.images.length);
    expect(analysis.embedding.points.filter((p) => p.group === 'generated')).toHaveLength(Math.min(result.generated!, 300));
    expect(analysis.judge).toBeUndefined();
    expect(judge.generated).toBe(result.generated);
    // ... and results.json carries its verdict on the generated set's labels.
    expect(report?.generatedLabels).toEqual({ generated: judge.generated, recognised: judge.recognised, judgeTestAccuracy: judge.testAccuracy });
    // Every generated image's colour measured once; the page draws its grid.
    expect(colours.measured + colours.noForeground).toBe(result.generated);
    expect(html).toMatch(/<table class="colours">[\s\S]*?<img src="data:image\/png;base64,/);
    expect(html).toContain(`recognises the prompted digit in <b>${judge.recognised} of ${judge.generated} generated images`);
    // Captions come with the image they describe.
    expect(html.match(/<img class="thumb" src="data:image\/png;base64,/g)?.length).toBeGreaterThan(0);
  });
});
