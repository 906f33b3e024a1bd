import * as tf from '@tensorflow/tfjs';
import type { SplitReader } from '../../datasets/disent/reader';
import { deriveSeed } from '../random';
import { perSampleLoss, type LossName } from './losses';
import { buildModel, type ModelSpec } from './models';
import { accuracyBreakdown, predictAll } from './predict';
import { modelWeights, setModelWeights, toArrays, toTensor, type NamedArray } from './weights';

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
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  validAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
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
  /** Holds the best weights on validation (never test). */
  model: tf.LayersModel;
  best: TrainCheckpoint['best'];
  history: EpochRecord[];
}

/** Adam whose learning rate can follow a step schedule (tfjs keeps it protected). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

function learningRate(s: TrainSettings, epoch: number): number {
  return s.lrDecay ? s.lr * s.lrDecay.factor ** Math.floor((epoch - 1) / s.lrDecay.every) : s.lr;
}

/**
 * Trains a classifier with CE or GCE, one checkpoint per epoch, keeping the weights that do best
 * on the validation split. Shuffling and augmentation are drawn per epoch from the seed, so a run
 * resumed from a checkpoint continues exactly as an uninterrupted one (on a deterministic backend).
 */
export async function trainClassifier(settings: TrainSettings, data: { train: SplitReader; valid: SplitReader }, hooks: TrainHooks): Promise<TrainResult> {
  const model = buildModel(settings.model);
  if (settings.initialWeights) setModelWeights(model, settings.initialWeights, 'initial weights');
  const optimizer = settings.optimizer === 'adam' ? new ScheduledAdam(settings.lr, 0.9, 0.999, 1e-8) : new tf.SGDOptimizer(settings.lr);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

  let best: TrainCheckpoint['best'] = { epoch: 0, validAccuracy: -1, weights: [] };
  const history: EpochRecord[] = [];
  let startEpoch = 1;
  if (hooks.resume) {
    setModelWeights(model, hooks.resume.weights, `checkpoint of epoch ${hooks.resume.epoch}`);
    // tfjs optimizers match their state to variables by position, which is stable across processes.
    await optimizer.setWeights(hooks.resume.optimizer.map((a) => ({ name: a.name, tensor: toTensor(a) })));
    best = hooks.resume.best;
    history.push(...hooks.resume.history);
    startEpoch = hooks.resume.epoch + 1;
  }

  const [h, w, c] = settings.model.inputShape;
  const stepsPerEpoch = Math.ceil(data.train.size / settings.batchSize);
  for (let epoch = startEpoch; epoch <= settings.epochs; epoch++) {
    const started = performance.now();
    const lr = learningRate(settings, epoch);
    if (optimizer instanceof ScheduledAdam || optimizer instanceof tf.SGDOptimizer) optimizer.setLearningRate(lr);
    let lossSum = 0;
    let step = 0;
    const batches = data.train.batches({
      batchSize: settings.batchSize,
      shuffleSeed: deriveSeed(settings.seed, epoch),
      augmentSeed: settings.augment ? deriveSeed(settings.seed, epoch, 1) : undefined,
    });
    for await (const batch of batches) {
      if (hooks.signal?.aborted) throw new Error('training cancelled');
      const cost = tf.tidy((): tf.Scalar => {
        const xs = tf.tensor4d(batch.x, [batch.size, h, w, c]);
        const ys = tf.tensor1d(batch.labels, 'int32');
        return optimizer.minimize(() => {
          const logits = model.apply(xs, { training: true }) as tf.Tensor2D;
          return tf.mean(perSampleLoss(settings.loss, logits, ys, settings.gceQ)) as tf.Scalar;
        }, true, variables)!;
      });
      lossSum += (await cost.data())[0]! * batch.size;
      cost.dispose();
      hooks.onStep?.(++step, stepsPerEpoch, epoch);
    }
    const trainSeconds = (performance.now() - started) / 1000;
    const validAccuracy = accuracyBreakdown(await predictAll(model, data.valid, Math.max(settings.batchSize, 256))).unbiased;
    const record: EpochRecord = {
      epoch, lr, trainLoss: lossSum / data.train.size, validAccuracy,
      seconds: (performance.now() - started) / 1000, imagesPerSecond: data.train.size / trainSeconds,
    };
    history.push(record);
    const weights = await modelWeights(model);
    if (validAccuracy > best.validAccuracy) best = { epoch, validAccuracy, weights };
    await hooks.onEpoch({ epoch, weights, optimizer: await toArrays(await optimizer.getWeights()), best, history: [...history] }, record);
  }
  if (best.weights.length > 0) setModelWeights(model, best.weights, 'best checkpoint');
  return { model, best, history };
}
