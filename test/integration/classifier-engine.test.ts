import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { runStageUnit, type StageHooks } from '../../stages/runner/stage-runner';
import { ArtifactStore } from '../../core/store';
import { decodeTensors } from '../../engines/classifier/weights';
import { parseExperimentConfig } from '../../stages/config/schema';
import { evaluateEngine, loadModel, scoreLossesEngine, trainClassifierEngine } from '../../stages/classifier-stages';
import { datasetContentId, prepareDatasetEngine } from '../../stages/prepare-dataset';
import { selectTopKEngine } from '../../stages/select-top-k';
import { validationView } from '../../stages/dataset-access';
import type { DatasetRef, GeneratedManifestKey, TrainClassifierInput } from '../../stages/contracts';
import { GENERATED_ROWS_FILE, type GeneratedRow } from '../../stages/generated-rows';
import sharp from 'sharp';
import type { StageEngine, StageProgress } from '../../stages/context';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

let s3: EmbeddedS3;
let store: ArtifactStore;
let dataset: DatasetRef;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'classifier-engine-'));
  await writeSyntheticCmnist(root);
  dataset = { name: 'cmnist', ratio: 1, seed: 0, root };
  s3 = await startEmbeddedS3({ directory: join(root, 's3'), bucket: 'engines' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'engines', prefix: '', credentials: s3.credentials });
});
afterAll(async () => {
  store.destroy();
  await s3.close();
});

function run<I extends object, O>(experimentId: string, stage: string, unit: string, engine: StageEngine<I, O>, input: I, hooks: Partial<StageHooks> = {}) {
  return runStageUnit(store, { experimentId, stage, version: 1, unit, inputs: input }, { progress() {}, ...hooks }, (ctx) => engine(input, ctx));
}

const train = parseExperimentConfig({ dataset: 'cmnist', ratio: 1, train: { epochs: 4, batchSize: 16, lr: 0.005 } }).train;
const trainInput = (experimentId: string): TrainClassifierInput => ({
  experimentId, role: 'biased', loss: 'gce', dataset, train, seed: 0, selection: 'valid', valid: { bias: 'unbiased' },
});

async function weightsOf(modelKey: string): Promise<number[][]> {
  const { groups } = decodeTensors(await store.get(modelKey) as Buffer, modelKey);
  return groups.weights!.map((w) => Array.from(w.data));
}

describe('classifier stage engines', () => {
  it('prepare, train, score, select and evaluate on a DisEnt-layout dataset', async () => {
    const prepared = await run('e1', 'prepareDataset', 'dataset', prepareDatasetEngine, { experimentId: 'e1', dataset });
    expect(prepared.outputs.counts).toEqual({ train: 80, conflicting: 10, valid: 30, test: 30 });
    const model = await run('e1', 'trainClassifier', 'biased', trainClassifierEngine, trainInput('e1'));
    expect(model.outputs.bestEpoch).toBeGreaterThan(0);
    const scores = await run('e1', 'scoreLosses', 'biased', scoreLossesEngine, { experimentId: 'e1', dataset, modelKey: model.outputs.modelKey, gceQ: 0.7 });
    expect(scores.outputs.rows).toBe(80);
    const csv = (await store.get(scores.outputs.tableKey))!.toString('utf8').split('\n');
    expect(csv[0]).toBe('file,label,bias,predicted,ce,gce');
    const top = await run('e1', 'selectTopK', 'topk', selectTopKEngine, { experimentId: 'e1', tableKey: scores.outputs.tableKey, k: 10, mode: 'global', score: 'ce', numClasses: 10, ratio: 1 });
    expect(top.outputs.items).toHaveLength(10);
    expect(top.outputs.items[0]!.image).toContain(join(dataset.root, 'cmnist/1pct/'));
    const evaluation = await run('e1', 'evaluate', 'biased', evaluateEngine, { experimentId: 'e1', role: 'biased', modelKey: model.outputs.modelKey, dataset });
    const { unbiased, aligned, conflicting } = evaluation.outputs.accuracy;
    expect(aligned).toBeGreaterThan(conflicting);
    // 30 test images, 15 aligned and 15 conflicting (test/support/synthetic-dataset.ts): a whole
    // number of each right, and the unbiased accuracy their mean.
    for (const pct of [aligned, conflicting]) expect(Math.abs((pct * 15) / 100 - Math.round((pct * 15) / 100))).toBeLessThan(1e-9);
    expect(unbiased).toBeCloseTo((aligned + conflicting) / 2, 9);
  });

  /** Trains `id` until epoch 2's checkpoint is published, then cancels it, as a lost worker would be. */
  async function loseAfterEpoch2(id: string): Promise<{ last: StageProgress; epochsRun: number[] }> {
    const controller = new AbortController();
    let last: StageProgress | undefined;
    const epochsRun: number[] = [];
    const lost = run(id, 'trainClassifier', 'biased', trainClassifierEngine, trainInput(id), {
      signal: controller.signal,
      progress: (p) => {
        if (p.step === undefined && p.epoch !== undefined) epochsRun.push(p.epoch);
        last = p;
        if (p.epoch === 2 && p.step === undefined) controller.abort();
      },
    });
    await expect(lost).rejects.toThrow('training cancelled');
    return { last: last!, epochsRun };
  }

  /** The retried attempt: resumes from `last`, recording its log and the epochs it ran. */
  async function retry(id: string, last: StageProgress) {
    const logs: string[] = [];
    const epochs: number[] = [];
    const resumed = await run(id, 'trainClassifier', 'biased', trainClassifierEngine, trainInput(id), {
      resume: last,
      log: (m) => logs.push(m),
      progress: (p) => { if (p.step === undefined && p.epoch !== undefined) epochs.push(p.epoch); },
    });
    return { modelKey: resumed.outputs.modelKey, logs, epochs };
  }

  it("the peers' MLP (100-100-16) on the peers' input (divide-255) is stored as such, and evaluation sees what training saw", async () => {
    const input = { ...trainInput('e-peers'), classifier: { init: 'torch' as const, arch: 'mlp-16' as const, normalize: 'divide-255' as const } };
    const trained = await run('e-peers', 'trainClassifier', 'biased', trainClassifierEngine, input);
    const { model, inputNorm } = await loadModel(store, trained.outputs.modelKey);
    expect(inputNorm).toEqual({ mean: [0, 0, 0], std: [255, 255, 255] });
    expect(model.layers.filter((l) => l.getClassName() === 'Dense').map((l) => (l.getWeights()[0]!.shape as number[]).join('x'))).toEqual(['2352x100', '100x100', '100x16', '16x10']);
    model.dispose();
    // The same weights read [0, 1] pixels as 255x brighter input: evaluate must scale as training did.
    const evaluated = await run('e-peers', 'evaluate', 'biased', evaluateEngine, { experimentId: 'e-peers', role: 'biased', modelKey: trained.outputs.modelKey, dataset });
    expect(evaluated.outputs.accuracy.unbiased).toBeCloseTo(trained.outputs.validAccuracy, 0);
  });

  it("f_D from f_B starts from f_B's kept weights, records where it started, and refuses a model of another shape", async () => {
    const biased = await run('e-init', 'trainClassifier', 'biased', trainClassifierEngine, trainInput('e-init'));
    // One epoch at a negligible rate: what comes out is what went in, to float rounding.
    const fromBiased: TrainClassifierInput = {
      ...trainInput('e-init'), role: 'debiased', loss: 'ce', train: { ...train, epochs: 1, lr: 1e-12 }, selection: 'last', initModelKey: biased.outputs.modelKey,
    };
    const debiased = await run('e-init', 'trainClassifier', 'debiased', trainClassifierEngine, fromBiased);
    expect(debiased.outputs.protocol.startedFrom).toBe(biased.outputs.modelKey);
    const [before, after] = [await weightsOf(biased.outputs.modelKey), await weightsOf(debiased.outputs.modelKey)];
    expect(after.length).toBe(before.length);
    after.forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(before[i]![j]!, 5)));
    const scratch = await run('e-init', 'trainClassifier', 'debiased', trainClassifierEngine, { ...fromBiased, initModelKey: undefined });
    expect(scratch.outputs.protocol.startedFrom).toBeUndefined();
    expect((await weightsOf(scratch.outputs.modelKey))[0]![0]).not.toBeCloseTo(before[0]![0]!, 5);
    const otherShape = { ...fromBiased, classifier: { init: 'torch' as const, arch: 'mlp-16' as const } };
    await expect(run('e-init', 'trainClassifier', 'debiased', trainClassifierEngine, otherShape)).rejects.toThrow(/initModelKey.*differs from the model to train in arch/);
  });

  it('f_D on the generated images alone (extraOnly) trains on those and nothing else; it needs some', async () => {
    // A generateBatch unit as the product writes one: PNGs, then rows.json naming them, then the manifest.
    const generated = await run('e-gen', 'generateBatch', 'batch-00000', async (_input: { n: number }, ctx) => {
      const rows: GeneratedRow[] = [];
      for (let i = 0; i < 12; i++) {
        const png = await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 20 * (i % 10), g: 0, b: 0 } } }).png().toBuffer();
        rows.push({ key: await ctx.put(`images/${i}.png`, png, 'image/png'), label: i % 10, prompt: `a ${i % 10}`, seed: i, source: `train/${i}.png` });
      }
      await ctx.putJson(GENERATED_ROWS_FILE, rows);
      return { images: rows.length };
    }, { n: 12 });
    const base: TrainClassifierInput = {
      ...trainInput('e-gen'), role: 'debiased', loss: 'ce', train: { ...train, epochs: 1 }, selection: 'last',
      extraManifests: [generated.manifestKey as GeneratedManifestKey],
    };
    const both = await run('e-gen', 'trainClassifier', 'debiased', trainClassifierEngine, base);
    expect(both.outputs.trainImages).toBe(80 + 12);
    const alone = await run('e-gen', 'trainClassifier', 'debiased', trainClassifierEngine, { ...base, extraOnly: true, extraRepeat: 2 });
    expect(alone.outputs.trainImages).toBe(12 * 2);
    await expect(run('e-gen', 'trainClassifier', 'debiased', trainClassifierEngine, { ...base, extraManifests: [], extraOnly: true }))
      .rejects.toThrow(/extraOnly.*needs extraManifests/);
  });

  it('an attempt lost after epoch 2 resumes from its S3 checkpoint and ends with the same weights', async () => {
    const uninterrupted = await run('full', 'trainClassifier', 'biased', trainClassifierEngine, trainInput('full'));
    const { last, epochsRun } = await loseAfterEpoch2('crash');
    expect(epochsRun).toEqual([1, 2]);
    expect(last.checkpointKey).toMatch(/^stages\/trainClassifier\/biased\/[0-9a-f]{12}\/checkpoint-e2\.bin$/);
    expect(last.checkpointSha256).toMatch(/^[0-9a-f]{64}$/);

    const resumed = await retry('crash', last);
    expect(resumed.logs.some((l) => l.startsWith('resuming after epoch 2'))).toBe(true);
    expect(resumed.epochs).toEqual([3, 4]);
    expect(await weightsOf(resumed.modelKey)).toEqual(await weightsOf(uninterrupted.outputs.modelKey));
    // A finished unit leaves no checkpoints behind.
    expect(await store.list(`${last.checkpointKey!.slice(0, last.checkpointKey!.lastIndexOf('/'))}/checkpoint-`)).toEqual([]);
  });

  it('a damaged checkpoint (bytes changed, size kept) is detected by its sha256 and never trained on', async () => {
    const uninterrupted = await run('full', 'trainClassifier', 'biased', trainClassifierEngine, trainInput('full'));
    const { last } = await loseAfterEpoch2('torn');
    const key = last.checkpointKey!;
    const bytes = (await store.get(key))!;
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await store.put(key, bytes);

    const resumed = await retry('torn', last);
    expect(resumed.logs.some((l) => l.includes('does not match its sha256') && l.endsWith('starting over'))).toBe(true);
    expect(resumed.epochs).toEqual([1, 2, 3, 4]);
    expect(await weightsOf(resumed.modelKey)).toEqual(await weightsOf(uninterrupted.outputs.modelKey));
  });
});

describe('validation views (selection.valid)', () => {
  // The synthetic valid split: 30 images, 15 bias-aligned and 15 bias-conflicting.
  const s3Settings = () => store.settings;

  it('unbiased is the split as built; a size cap keeps its share of conflicting images, stratified by class', async () => {
    const whole = await validationView(dataset, { bias: 'unbiased' }, 0, s3Settings());
    expect([whole.images, whole.conflicting]).toEqual([30, 15]);
    const capped = await validationView(dataset, { bias: 'unbiased', size: 10 }, 0, s3Settings());
    expect([capped.images, capped.conflicting]).toEqual([10, 5]);
    expect(new Set(capped.reader.items.map((i) => i.label)).size).toBeGreaterThanOrEqual(5);
  });

  it('biased keeps the aligned images and adds conflicting ones at the training ratio; the seed draws which', async () => {
    const at20 = { ...dataset, ratio: 20 };
    const a = await validationView(at20, { bias: 'biased' }, 0, s3Settings());
    // 15 aligned images allow a view of 18 at 20% (14 or 15 aligned after rounding).
    expect(a.images).toBe(18);
    expect(a.conflicting / a.images).toBeCloseTo(0.2, 1);
    const again = await validationView(at20, { bias: 'biased' }, 0, s3Settings());
    expect(again.reader.items.map((i) => i.location)).toEqual(a.reader.items.map((i) => i.location));
    const other = await validationView(at20, { bias: 'biased' }, 1, s3Settings());
    expect(other.reader.items.map((i) => i.location)).not.toEqual(a.reader.items.map((i) => i.location));
  });
});

describe('dataset content identity (prepareDataset key)', () => {
  it('is the same for the same files and new on every look at a missing dataset', async () => {
    const a = await datasetContentId(dataset, store.settings);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(await datasetContentId({ ...dataset, seed: 9 }, store.settings)).toBe(a);
    const missing = { ...dataset, root: join(tmpdir(), 'no-dataset-here') };
    const m1 = await datasetContentId(missing, store.settings);
    expect(m1).toMatch(/^missing /);
    expect(await datasetContentId(missing, store.settings)).not.toBe(m1);
  });
});
