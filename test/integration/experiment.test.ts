import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentIdentity, submitExperiment } from '../../cli/submit';
import { checkManifest, type Manifest } from '../../stages/runner/manifest';
import type { UnitPointer } from '../../stages/runner/stage-runner';
import { stageTimes } from '../../stages/runner/stage-times';
import { parseExperimentConfig } from '../../stages/config/schema';
import type { ExperimentResult } from '../../stages/contracts';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import type { StageName } from '../../stages/activity-table';
import { STAGE_VERSIONS } from '../../stages/activity-table';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

const doubles = doubleEngines();
/** The workers' stage versions: a test bumps one, as a commit that changes a stage's computation does. */
const versions: Record<StageName, number> = { ...STAGE_VERSIONS };
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ engines: doubles.engines, concurrency: { caption: 3 }, versions });
});
afterAll(async () => {
  await h?.close();
});

describe('experiment workflow (test-double engines, real Temporal and S3)', () => {
  const config = parseExperimentConfig({
    dataset: 'cmnist', ratio: 1, seed: 0,
    train: { epochs: 3 },
    topK: { k: 12 },
    caption: { concurrency: 3, batchSize: 2 },
    generate: { images: 10, batchSize: 4 },
    fanOutChunk: 5,
  });

  it('runs the DAG in order, fans out, stores manifests', async () => {
    const { workflowId, experimentId } = experimentIdentity(config);
    expect(workflowId).toMatch(/^diffubias\/cmnist\/1\/0\/[0-9a-f]{12}$/);
    const startedAt = Date.now();
    const submitted = await submitExperiment(h.stack.client, config);
    expect(submitted).toEqual({ workflowId, state: 'started' });
    const handle = h.stack.client.workflow.getHandle(workflowId);
    const result = (await handle.result()) as ExperimentResult;
    const tookSeconds = (Date.now() - startedAt) / 1000;

    // Stage order: every stage starts after the one before it finished.
    const firstIndex = (prefix: string) => doubles.log.started.findIndex((s) => s.startsWith(prefix));
    const order = ['prepareDataset', 'trainClassifier:biased', 'scoreLosses', 'selectTopK', 'captionImage', 'filterCaptions', 'generateBatch', 'trainClassifier:debiased', 'evaluate', 'analyzeModels'];
    const positions = order.map(firstIndex);
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);

    // Fan-out width: 12 images in caption units of 2, at most 3 at once; 10 images in batches of 4 = 3 batches.
    expect(doubles.log.started.filter((s) => s.startsWith('captionImage:'))).toHaveLength(6);
    expect(doubles.log.maxConcurrent.captionImage).toBeGreaterThan(1);
    expect(doubles.log.maxConcurrent.captionImage).toBeLessThanOrEqual(3);
    expect(doubles.log.started.filter((s) => s.startsWith('generateBatch:'))).toHaveLength(3);

    expect(result.accuracy.debiased?.unbiased).toBe(61);
    expect(result.accuracy.vanilla?.unbiased).toBe(31);
    expect(result.generated).toBe(10);
    // Workflow time from start to result, in whole seconds: what this test waited, to rounding.
    expect(Number.isInteger(result.wallSeconds)).toBe(true);
    expect(result.wallSeconds).toBeGreaterThanOrEqual(Math.floor(tookSeconds) - 1);
    expect(result.wallSeconds).toBeLessThanOrEqual(Math.ceil(tookSeconds) + 1);
    expect(result.captions!.kept).toBe(24);

    // The Web UI's current details: each training epoch told by its activity, results so far.
    const signalled = ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'unitProgress');
    expect(signalled.length).toBeGreaterThanOrEqual(2);
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('stage: **done**');
    expect(metadata.currentDetails).toMatch(/f_B: epoch \d+ kept, validation 50\.00%/);
    expect(metadata.currentDetails).toContain('unbiased test accuracy: biased');
    expect(metadata.currentDetails).toMatch(/energy: \d+\.\d\d Wh, \d+\.\d\d gCO2eq/);

    // Energy: every unit of every stage measured by the worker, summed per stage and in total.
    const energy = result.energy!;
    expect(energy.stages.map((st) => [st.stage, st.measured, st.units])).toEqual(result.reuse!.map((r) => [r.stage, r.units, r.units]));
    expect(energy.stages.find((st) => st.stage === 'captionImage')!.units).toBe(6);
    expect(energy.total.cpuSeconds).toBeGreaterThan(0);
    expect(energy.total.kwh.total).toBeCloseTo(energy.stages.reduce((n, st) => n + st.energy.kwh.total, 0), 15);
    expect(energy.total.gCo2eq).toBeCloseTo(energy.total.kwh.total * 475, 12);
    expect(energy.models).toHaveLength(1);
    expect(energy.models[0]).toContain('475 gCO2eq/kWh');
    // The units' own time: the seconds their manifests record, summed, as the demo's stage times are.
    const times = await stageTimes(h.store, experimentId);
    expect(result.unitSeconds).toBe(Math.round(times.reduce((n, t) => n + t.seconds, 0)));

    // Artifacts: every unit under stages/<stage>/<unit>/<inputsHash>/ with a complete manifest, and
    // the experiment's pointer to each under runs/<experimentId>/<stage>/<unit>.json.
    const pointerKeys = (await h.store.list(`runs/${experimentId}/`)).filter((k) => !k.includes('/report/'));
    const pointers = await Promise.all(pointerKeys.map(async (k) => (await h.store.getJson<UnitPointer>(k))!));
    const manifests = pointers.map((p) => p.manifestKey);
    expect(manifests.every((k) => /^stages\/\w+\/[\w-]+\/[0-9a-f]{12}\/manifest\.json$/.test(k))).toBe(true);
    const stages = new Set(manifests.map((k) => k.split('/')[1]));
    expect([...stages].sort()).toEqual(['analyzeModels', 'captionImage', 'evaluate', 'filterCaptions', 'generateBatch', 'inspectGenerated', 'measureDiversity', 'prepareDataset', 'scoreLosses', 'selectTopK', 'trainClassifier']);
    // The side stage declared for the generated set ran on it, and its output reached the result and the report.
    expect(result.sideStages?.measureDiversity).toMatchObject({ sampled: 10, realMeanDistance: 0.3 });
    expect(result.reuse?.find((r) => r.stage === 'measureDiversity')).toEqual({ stage: 'measureDiversity', units: 1, reused: 0 });
    // The inspection starts once generation is done, beside f_D's training.
    expect(firstIndex('inspectGenerated')).toBeGreaterThan(firstIndex('generateBatch'));
    expect(result.generatedLabels).toEqual({ generated: 10, recognised: 10, judgeTestAccuracy: 95 });
    expect(manifests.filter((k) => k.includes('/captionImage/'))).toHaveLength(6);
    expect(pointers.every((p) => p.reused === false)).toBe(true);
    for (const key of manifests) {
      const manifest = (await h.store.getJson<Manifest>(key))!;
      expect(await checkManifest(h.store, manifest)).toEqual([]);
    }
    const generated = (await h.store.list('stages/generateBatch/')).filter((k) => k.endsWith('.png'));
    expect(generated).toHaveLength(10);
    expect(await h.store.getJson(result.reportKey)).toMatchObject({ experimentId, generated: 10 });
    // The report page is drawn from what the doubles stored, in the product's shapes.
    const page = (await h.store.get(result.reportKey.replace(/results\.json$/, 'report.html')))?.toString('utf8');
    expect(page).toContain('Top-12 highest-loss training images');
    expect(page).toContain('Generated samples (10 in all)');
    expect(page).toContain('<code>measureDiversity</code>: 10 generated images, seen as shapes (32 px), differ from others of their class by 0.000 RMS on average, real training images by 0.300');

    // The protocol each classifier was trained under is in the result: f_B and the others as trained (the defaults).
    expect(result.training?.biased?.protocol).toMatchObject({ selection: 'last', init: 'torch', epochs: 3, valid: { bias: 'unbiased' } });
    expect(result.training?.debiased?.protocol.selection).toBe('last');
    expect(result.training?.vanilla?.validCurve).toHaveLength(3);

    // The Web UI's search attributes.
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.dataset)).toBe('cmnist');
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.biasRatio)).toBe(1);
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.seed)).toBe(0);
    expect(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.stage)).toBe('done');
  });

  it('generate.images: aligned generates as many images as bias-aligned training images; selection reaches each role', async () => {
    const aligned = parseExperimentConfig({
      ...config, seed: 7, generate: { images: 'aligned', batchSize: 500 },
      selection: { classifiers: 'valid', biased: 'last', valid: { bias: 'biased', size: 50 } },
    });
    const submitted = await submitExperiment(h.stack.client, aligned);
    const result = (await h.stack.client.workflow.getHandle(submitted.workflowId).result()) as ExperimentResult;
    // The doubles' dataset: 1,000 training images of which 10 are bias-conflicting.
    expect(result.generated).toBe(990);
    expect(result.training?.biased?.protocol.selection).toBe('last');
    expect(result.training?.vanilla?.protocol).toMatchObject({ selection: 'valid', valid: { bias: 'biased' } });
    expect(result.training?.debiased?.protocol.selection).toBe('valid');
  });

  it('train.biasedEpochs trains f_B alone that long; train.debiasedInit: biased starts f_D from the f_B it kept', async () => {
    const recipe = parseExperimentConfig({ ...config, seed: 8, train: { epochs: 3, biasedEpochs: 1, debiasedInit: 'biased' } });
    const result = (await h.stack.client.workflow.getHandle((await submitExperiment(h.stack.client, recipe)).workflowId).result()) as ExperimentResult;
    expect(result.training?.biased?.protocol).toMatchObject({ epochs: 1 });
    expect(result.training?.biased?.protocol.startedFrom).toBeUndefined();
    expect(result.training?.vanilla?.protocol).toMatchObject({ epochs: 3 });
    expect(result.training?.vanilla?.protocol.startedFrom).toBeUndefined();
    expect(result.training?.debiased?.protocol).toMatchObject({ epochs: 3 });
    expect(result.training?.debiased?.protocol.startedFrom).toMatch(/^stages\/trainClassifier\/biased\/\w+\/model\.bin$/);
  });

  it("vanilla: 'only' prepares, trains and evaluates the baseline alone, and reports it", async () => {
    const baseline = parseExperimentConfig({ ...config, seed: 9, vanilla: 'only' });
    const before = doubles.log.started.length;
    const { workflowId } = await submitExperiment(h.stack.client, baseline);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    expect(doubles.log.started.slice(before).map((s) => s.split(':').slice(0, 2).join(':'))).toEqual(['prepareDataset:dataset', 'trainClassifier:vanilla', 'evaluate:vanilla']);
    expect(Object.keys(result.accuracy)).toEqual(['vanilla']);
    expect(result.training?.vanilla?.protocol).toMatchObject({ epochs: 3, selection: 'last' });
    expect(result.topK).toBeUndefined();
    expect(result.generated).toBeUndefined();
    expect(result.reuse?.map((r) => r.stage)).toEqual(['prepareDataset', 'trainClassifier(vanilla)', 'evaluate']);
    expect(await h.store.getJson(result.reportKey)).toMatchObject({ experimentId: result.experimentId, accuracy: result.accuracy });
    // Its page has the baseline and no method sections.
    const html = (await h.store.get(result.reportKey.replace(/results\.json$/, 'report.html')))?.toString('utf8');
    expect(html).toContain('<h1>Vanilla baseline: cmnist at 1% bias-conflicting, seed 9</h1>');
    expect(html).toContain('Vanilla baseline alone: ');
    expect(html).not.toContain('Captions');
  });

  it('changing only generate.* reuses every stage before generation; another seed shares none of them', async () => {
    // A dataset that is there (a missing one is never reused: it must be built or reported).
    const datasetRoot = mkdtempSync(join(tmpdir(), 'reuse-dataset-'));
    await writeSyntheticCmnist(datasetRoot);
    const first = parseExperimentConfig({ ...config, datasetRoot });
    await h.stack.client.workflow.getHandle((await submitExperiment(h.stack.client, first)).workflowId).result();
    const before = doubles.log.started.length;
    const more = parseExperimentConfig({ ...first, generate: { images: 6, batchSize: 4 } });
    const result = (await h.stack.client.workflow.getHandle((await submitExperiment(h.stack.client, more)).workflowId).result()) as ExperimentResult;
    // What the engines actually ran for the second experiment (a stored unit never reaches its engine).
    const ran = doubles.log.started.slice(before).map((s) => s.split(':')[0] === 'trainClassifier' || s.split(':')[0] === 'evaluate' ? s : s.split(':')[0]);
    // The analysis looks at f_D, which changed: it runs again too.
    // New generated images: their inspection and their diversity measure run again.
    expect([...new Set(ran)].sort()).toEqual(['analyzeModels', 'evaluate:debiased', 'generateBatch', 'inspectGenerated', 'measureDiversity', 'trainClassifier:debiased']);
    const reused = Object.fromEntries(result.reuse!.map((r) => [r.stage, `${r.reused}/${r.units}`]));
    expect(reused).toEqual({
      prepareDataset: '1/1', 'trainClassifier(biased)': '1/1', 'trainClassifier(vanilla)': '1/1', scoreLosses: '1/1', selectTopK: '1/1',
      captionImage: '6/6', filterCaptions: '1/1', 'trainClassifier(debiased)': '0/1', evaluate: '2/3',
      // 6 images in batches of 4: images 0-3 are the first experiment's batch 0 (same captions, seeds): reused.
      generateBatch: '1/2', inspectGenerated: '0/1', analyzeModels: '0/1', measureDiversity: '0/1',
    });

    const seed = parseExperimentConfig({ ...first, seed: 5 });
    const other = (await h.stack.client.workflow.getHandle((await submitExperiment(h.stack.client, seed)).workflowId).result()) as ExperimentResult;
    expect(other.reuse!.filter((r) => r.reused > 0)).toEqual([]);
  });

  it('a bumped stage version recomputes that stage and what reads its outputs, and nothing upstream', async () => {
    const datasetRoot = mkdtempSync(join(tmpdir(), 'version-dataset-'));
    await writeSyntheticCmnist(datasetRoot);
    // caption.concurrency changes the workflow id and no stage's inputs: each run below is a new
    // execution over the same units, so whatever it recomputes is the version bump's doing.
    const run = async (concurrency: number) => {
      const cell = parseExperimentConfig({ ...config, seed: 11, datasetRoot, caption: { ...config.caption, concurrency } });
      const result = (await h.stack.client.workflow.getHandle((await submitExperiment(h.stack.client, cell)).workflowId).result()) as ExperimentResult;
      return Object.fromEntries(result.reuse!.map((r) => [r.stage, `${r.reused}/${r.units}`]));
    };
    try {
      await run(3);
      expect(await run(2)).toMatchObject({ prepareDataset: '1/1', captionImage: '6/6', generateBatch: '3/3', 'trainClassifier(debiased)': '1/1' });

      versions.captionImage += 1;
      expect(await run(1)).toEqual({
        prepareDataset: '1/1', 'trainClassifier(biased)': '1/1', 'trainClassifier(vanilla)': '1/1', scoreLosses: '1/1', selectTopK: '1/1',
        captionImage: '0/6', filterCaptions: '0/1', generateBatch: '0/3', inspectGenerated: '0/1', 'trainClassifier(debiased)': '0/1',
        evaluate: '2/3', analyzeModels: '0/1', measureDiversity: '0/1',
      });

      // A fix to training: every classifier and all that reads a model is new. The new f_B selects the
      // same images here (the doubles are deterministic), and a caption of the same image by the same
      // captioner code is the same caption: those units, and generation from them, are reused.
      versions.trainClassifier += 1;
      expect(await run(4)).toEqual({
        prepareDataset: '1/1', 'trainClassifier(biased)': '0/1', 'trainClassifier(vanilla)': '0/1', scoreLosses: '0/1', selectTopK: '0/1',
        captionImage: '6/6', filterCaptions: '1/1', generateBatch: '3/3', inspectGenerated: '1/1', 'trainClassifier(debiased)': '0/1',
        evaluate: '0/3', analyzeModels: '0/1', measureDiversity: '1/1',
      });
    } finally {
      Object.assign(versions, STAGE_VERSIONS);
    }
  });

  it('is one execution when submitted twice, and reuses stored stages when re-run', async () => {
    const again = await submitExperiment(h.stack.client, config);
    expect(again.state).toBe('completed');
    const { workflowId } = experimentIdentity(config);
    const runs = [];
    for await (const w of h.stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w);
    expect(runs).toHaveLength(1);
  });
});
