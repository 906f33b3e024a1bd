import * as tf from '@tensorflow/tfjs';
import type { BatchSource } from './batch-source';
import { deriveSeed } from '../../core/random';
import type { LossName } from './losses';
import { buildModel, type ModelSpec } from './models';
import { createTrainStep } from './train-step';
import { accuracyBreakdown, predictAll } from './predict';
import { modelWeights, setModelWeights, toArrays, toTensor, type NamedArray } from './weights';

/** Steps between turns of the event loop (a few microseconds each; a step is milliseconds). */
const YIELD_EVERY_STEPS = 8;

export interface TrainSettings {
  model: ModelSpec;
  loss: LossName;
  gceQ: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: 'adam' | 'sgd';
  lrDecay?: { every: number; factor: number };
  /** Random crop + flip (Table 6: the photo datasets). */
  augment: boolean;
  seed: number;
  /** Start from these weights (e.g. ImageNet-pretrained) instead of the seeded initialization. */
  initialWeights?: NamedArray[];
  /** The backend's name as initBackend reports it, recorded per epoch; tfjs's own name otherwise. */
  backend?: string;
  /** Which epoch's weights are kept: `valid` = best validation accuracy (default), `last` = as trained. */
  selection?: 'valid' | 'last';
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  validAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
  /** What computed this epoch (a resumed run may have moved to another machine). */
  backend: string;
}

/** Everything a retried attempt needs to continue exactly where the last epoch ended. */
export interface TrainCheckpoint {
  epoch: number;
  weights: NamedArray[];
  optimizer: NamedArray[];
  best: { epoch: number; validAccuracy: number; weights: NamedArray[] };
  history: EpochRecord[];
}

export interface TrainHooks {
  resume?: TrainCheckpoint;
  /** Called after every epoch with a checkpoint to store; training waits for it. */
  onEpoch(checkpoint: TrainCheckpoint, record: EpochRecord): Promise<void>;
  onStep?(step: number, stepsPerEpoch: number, epoch: number): void;
  signal?: AbortSignal;
}

export interface TrainResult {
  /** Holds the kept epoch's weights (the last, or the best on validation; never chosen on test). */
  model: tf.LayersModel;
  best: TrainCheckpoint['best'];
  history: EpochRecord[];
}

function learningRate(s: TrainSettings, epoch: number): number {
  return s.lrDecay ? s.lr * s.lrDecay.factor ** Math.floor((epoch - 1) / s.lrDecay.every) : s.lr;
}

/**
 * Trains a classifier with CE or GCE, one checkpoint per epoch, keeping the last epoch's weights or
 * those that do best on the validation split (`settings.selection`); validation accuracy is
 * measured and recorded every epoch either way. Shuffling and augmentation are drawn per epoch from the seed, so a run
 * resumed from a checkpoint continues exactly as an uninterrupted one (on a deterministic backend).
 */
export async function trainClassifier(settings: TrainSettings, data: { train: BatchSource; valid: BatchSource }, hooks: TrainHooks): Promise<TrainResult> {
  const model = buildModel(settings.model);
  if (settings.initialWeights) setModelWeights(model, settings.initialWeights, 'initial weights');
  const trainStep = await createTrainStep(model, settings, settings.backend ?? tf.getBackend());
  const { optimizer } = trainStep;

  let best: TrainCheckpoint['best'] = { epoch: 0, validAccuracy: -1, weights: [] };
  const history: EpochRecord[] = [];
  let startEpoch = 1;
  // The step may hold a TensorFlow session and a private copy of its graph: released however training ends.
  try {
    if (hooks.resume) {
      setModelWeights(model, hooks.resume.weights, `checkpoint of epoch ${hooks.resume.epoch}`);
      // Optimizer state matches variables by position, which is stable across processes.
      const state = hooks.resume.optimizer.map((a) => ({ name: a.name, tensor: toTensor(a) }));
      optimizer.setWeights(state);
      tf.dispose(state.map((s) => s.tensor));
      best = hooks.resume.best;
      history.push(...hooks.resume.history);
      startEpoch = hooks.resume.epoch + 1;
    }

    const stepsPerEpoch = Math.ceil(data.train.size / settings.batchSize);
    for (let epoch = startEpoch; epoch <= settings.epochs; epoch++) {
      const started = performance.now();
      const lr = learningRate(settings, epoch);
      optimizer.setLearningRate(lr);
      // Batch losses stay on the backend until the epoch ends: a read per step is a sync per step.
      const costs: tf.Scalar[] = [];
      let step = 0;
      const batches = data.train.batches({
        batchSize: settings.batchSize,
        shuffleSeed: deriveSeed(settings.seed, epoch),
        augmentSeed: settings.augment ? deriveSeed(settings.seed, epoch, 1) : undefined,
      });
      for await (const batch of batches) {
        // An epoch in memory never waits on I/O: without a turn of the event loop now and then, a
        // cancellation (and any timer) would only be seen at the epoch's end.
        if (step % YIELD_EVERY_STEPS === 0) await new Promise<void>((r) => setImmediate(r));
        if (hooks.signal?.aborted) throw new Error('training cancelled');
        costs.push(trainStep.run(batch.x, batch.labels, batch.size));
        hooks.onStep?.(++step, stepsPerEpoch, epoch);
      }
      const lossSum = tf.tidy(() => (costs.length ? tf.addN(costs) : tf.scalar(0)));
      const trainLoss = (await lossSum.data())[0]! / data.train.size;
      tf.dispose([lossSum, ...costs]);
      const trainSeconds = (performance.now() - started) / 1000;
      trainStep.syncModel();
      const validAccuracy = accuracyBreakdown(await predictAll(model, data.valid, Math.max(settings.batchSize, 256))).unbiased;
      const record: EpochRecord = {
        epoch, lr, trainLoss, validAccuracy,
        seconds: (performance.now() - started) / 1000, imagesPerSecond: data.train.size / trainSeconds,
        backend: settings.backend ?? tf.getBackend(),
      };
      history.push(record);
      const weights = await modelWeights(model);
      if (settings.selection === 'last' || validAccuracy > best.validAccuracy) best = { epoch, validAccuracy, weights };
      const state = optimizer.getWeights();
      const optimizerState = await toArrays(state);
      tf.dispose(state.map((s) => s.tensor));
      await hooks.onEpoch({ epoch, weights, optimizer: optimizerState, best, history: [...history] }, record);
    }
  } finally {
    trainStep.dispose();
  }
  if (best.weights.length > 0) setModelWeights(model, best.weights, 'best checkpoint');
  return { model, best, history };
}
