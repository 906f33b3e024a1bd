import { beforeAll, describe, expect, it } from 'vitest';
import { SplitReader } from '../../datasets/disent/reader';
import { initBackend } from '../../engines/classifier/backend';
import { IMAGENET_NORM, normalizedSource } from '../../engines/classifier/batch-source';
import { accuracyBreakdown, predictAll } from '../../engines/classifier/predict';
import { trainClassifier, type TrainCheckpoint, type TrainSettings } from '../../engines/classifier/train';
import { decodeTensors, encodeTensors, modelWeights } from '../../engines/classifier/weights';
import { syntheticItems } from '../support/synthetic-images';

let train: SplitReader;
let valid: SplitReader;

// The backend the product would pick here: native TensorFlow where setup built it (CI does), else wasm.
let backend = 'cpu';
beforeAll(async () => {
  backend = await initBackend();
  train = new SplitReader(await syntheticItems(120, { classes: 4, size: 8, seed: 1, conflictEvery: 10 }), { imageSize: 8 });
  valid = new SplitReader(await syntheticItems(40, { classes: 4, size: 8, seed: 2 }), { imageSize: 8 });
});

const settings: TrainSettings = {
  model: { arch: 'mlp', numClasses: 4, inputShape: [8, 8, 3], seed: 7 },
  loss: 'gce', gceQ: 0.7, epochs: 4, batchSize: 16, lr: 1e-2, optimizer: 'adam', augment: false, seed: 3,
  lrDecay: { every: 2, factor: 0.5 },
};

/** Checkpoints go through the binary format, as they do through S3. */
function roundTrip(c: TrainCheckpoint): TrainCheckpoint {
  const bytes = encodeTensors({ epoch: c.epoch, best: { epoch: c.best.epoch, validAccuracy: c.best.validAccuracy }, history: c.history },
    { weights: c.weights, optimizer: c.optimizer, best: c.best.weights });
  // As read back from S3: a Buffer at an unaligned offset of a larger pool.
  const fromS3 = Buffer.concat([Buffer.from([1, 2, 3]), bytes]).subarray(3);
  const { meta, groups } = decodeTensors<Pick<TrainCheckpoint, 'epoch' | 'history'> & { best: { epoch: number; validAccuracy: number } }>(fromS3, 'test');
  return { epoch: meta.epoch, history: meta.history, weights: groups.weights!, optimizer: groups.optimizer!, best: { ...meta.best, weights: groups.best! } };
}

describe('classifier training', () => {
  it('runs on native TensorFlow in CI (setup provisions it there)', () => {
    console.log(`classifier tests on the ${backend} backend`);
    const provisioned = process.env.CI && process.platform === 'linux' && process.arch === 'x64' && process.env.DIFFUBIAS_NATIVE_TF !== '0';
    if (provisioned) expect(backend).toMatch(/^tensorflow/);
  });

  it('learns, keeps the best epoch on validation, halves the lr on schedule', async () => {
    const epochs: number[] = [];
    const result = await trainClassifier(settings, { train, valid }, { onEpoch: async (_c, r) => { epochs.push(r.epoch); } });
    expect(epochs).toEqual([1, 2, 3, 4]);
    expect(result.history.map((h) => h.lr)).toEqual([1e-2, 1e-2, 5e-3, 5e-3]);
    const acc = accuracyBreakdown(await predictAll(result.model, valid, 32));
    expect(acc.unbiased).toBe(result.best.validAccuracy);
    expect(acc.unbiased).toBeGreaterThan(60);
  });

  it('normalizes inputs per channel for pretrained weights (ImageNet statistics), leaving the source untouched', async () => {
    const plain = (await valid.batches({ batchSize: 8 })[Symbol.asyncIterator]().next()).value!;
    const normed = (await normalizedSource(valid, IMAGENET_NORM).batches({ batchSize: 8 })[Symbol.asyncIterator]().next()).value!;
    for (const i of [0, 1, 2, 3, 100, 191]) expect(normed.x[i]).toBeCloseTo((plain.x[i]! - IMAGENET_NORM.mean[i % 3]!) / IMAGENET_NORM.std[i % 3]!, 5);
    expect(normed.labels).toEqual(plain.labels);
    expect(normalizedSource(valid, undefined)).toBe(valid);
  });

  it('selection last keeps the last epoch, whatever validation says', async () => {
    const last = await trainClassifier({ ...settings, selection: 'last' }, { train, valid }, { onEpoch: async () => {} });
    expect(last.best.epoch).toBe(4);
    expect(last.best.validAccuracy).toBe(last.history[3]!.validAccuracy);
    const acc = accuracyBreakdown(await predictAll(last.model, valid, 32));
    expect(acc.unbiased).toBe(last.history[3]!.validAccuracy);
    // Validation is still measured every epoch: the curve is the report's.
    expect(last.history.map((h) => h.validAccuracy).every((a) => a >= 0)).toBe(true);
  });

  it('a run interrupted after epoch 2 and resumed ends with the same weights, without redoing epochs 1-2', async () => {
    const full = await trainClassifier(settings, { train, valid }, { onEpoch: async () => {} });
    let saved: TrainCheckpoint | undefined;
    await expect(trainClassifier(settings, { train, valid }, {
      onEpoch: async (c) => {
        saved = roundTrip(c);
        if (c.epoch === 2) throw new Error('worker lost');
      },
    })).rejects.toThrow('worker lost');
    expect(saved?.epoch).toBe(2);
    const ran: number[] = [];
    const resumed = await trainClassifier(settings, { train, valid }, { resume: saved, onEpoch: async (_c, r) => { ran.push(r.epoch); } });
    expect(ran).toEqual([3, 4]);
    const a = await modelWeights(full.model);
    const b = await modelWeights(resumed.model);
    a.forEach((w, i) => expect(Array.from(b[i]!.data)).toEqual(Array.from(w.data)));
  });

  it('a cancellation from a timer is seen within an epoch, not at its end', async () => {
    // 120 images at batch 4: 30 steps per epoch, none waiting on I/O.
    const controller = new AbortController();
    let steps = 0;
    const timer = setTimeout(() => controller.abort(), 0);
    await expect(trainClassifier({ ...settings, epochs: 1, batchSize: 4 }, { train, valid }, {
      signal: controller.signal, onStep: () => { steps++; }, onEpoch: async () => {},
    })).rejects.toThrow('training cancelled');
    clearTimeout(timer);
    expect(steps).toBeLessThan(30);
  });

  it('ResNet-18 (CIFAR stem) trains a step and updates BatchNorm statistics', async () => {
    // 8 px keeps the pure-JS cpu backend fast; the architecture is the same as at 32 px.
    const small = new SplitReader(await syntheticItems(4, { classes: 4, size: 8, seed: 4 }), { imageSize: 8 });
    const result = await trainClassifier(
      { ...settings, model: { arch: 'resnet18', numClasses: 4, inputShape: [8, 8, 3], seed: 1, padding: 'symmetric' }, epochs: 1, batchSize: 4 },
      { train: small, valid: small }, { onEpoch: async () => {} },
    );
    const movingMean = result.model.getLayer('stem_bn').getWeights()[2]!;
    expect(Math.max(...Array.from(await movingMean.abs().data()))).toBeGreaterThan(0);
  });
});
