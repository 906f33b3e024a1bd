import type * as tf from '@tensorflow/tfjs';
import type { ImageItem } from '../datasets/disent/reader';
import { bundleContentId, resolveBundle } from '../core/bundle-store';
import { specOf } from '../datasets/specs';
import type { ArtifactStore } from '../core/store';
import { initBackend } from '../engines/classifier/backend';
import { applyInitialWeights, INITIAL_WEIGHTS } from '../engines/classifier/initial-weights';
import { sampleLosses } from '../engines/classifier/losses';
import { DIVIDE_255_NORM, IMAGENET_NORM, normalizedSource, type InputNorm } from '../engines/classifier/batch-source';
import { decodeModel, encodeModel } from '../engines/classifier/model-file';
import { buildModel, type ModelSpec } from '../engines/classifier/models';
import { accuracyBreakdown, argmax, predictAll } from '../engines/classifier/predict';
import { trainClassifier, type TrainCheckpoint, type TrainSettings } from '../engines/classifier/train';
import { decodeTensors, encodeTensors, modelWeights, type NamedArray } from '../engines/classifier/weights';
import { BadInputError } from '../core/errors';
import type {
  ClassifierRole, EvaluateInput, GeneratedManifestKey, ModelKey, EvaluateOutput, ScoreLossesInput, ScoreLossesOutput, TrainClassifierInput, TrainClassifierOutput,
} from './contracts';
import { deriveSeed } from '../core/random';
import { lossTableFromCsv, lossTableToCsv } from '../engines/selection/loss-table';
import type { ArtifactKind } from './artifacts';
import type { LossRow } from '../engines/selection/top-k';
import type { StageContext, StageEngine, StageProgress } from './context';
import { sha256Hex } from './config/canonical-hash';
import { readListedFile } from './runner/manifest';
import { splitReader, validationView } from './dataset-access';
import { ProcessCache } from '../core/process-cache';
import type { ClassifierConfig } from './config/schema';
import { readGeneratedRows } from './generated-rows';
import { defineStage } from './define-stage';

/** The files the classifier stages write, in each unit's folder. */
export const CLASSIFIER_FILES = {
  /** trainClassifier: the best epoch's model (engines/classifier/model-file.ts). */
  model: 'model.bin',
  /** trainClassifier: EpochRecord[]. */
  history: 'history.json',
  /**
   * trainClassifier, scratch: an epoch's weights and optimizer state, one new object per epoch
   * (`checkpoint-e<epoch>.bin`), published by the heartbeat with its sha256 only once written;
   * all removed when the unit completes.
   */
  checkpoint: (epoch: number) => `checkpoint-e${epoch}.bin`,
  checkpointPrefix: 'checkpoint-e',
  /** scoreLosses: the per-sample loss table (engines/selection/loss-table.ts). */
  losses: 'losses.csv',
  /** evaluate: the accuracy breakdown. */
  accuracy: 'accuracy.json',
} as const;

const ROLE_STREAM: Record<ClassifierRole, number> = { biased: 1, vanilla: 2, debiased: 3 };

/** scoreLosses' per-sample loss table, as CSV (engines/selection/loss-table.ts); selectTopK and the report read it. */
export const LOSS_TABLE: ArtifactKind<LossRow[]> = {
  name: CLASSIFIER_FILES.losses,
  contentType: 'text/csv',
  encode: (rows) => lossTableToCsv(rows),
  decode(bytes, where) {
    try {
      return lossTableFromCsv(bytes.toString('utf8'), where);
    } catch (err) {
      throw new BadInputError(where, (err as Error).message.slice(where.length + 2));
    }
  },
};
const INPUT_NORMS: Record<NonNullable<ClassifierConfig['normalize']>, InputNorm | undefined> = { none: undefined, imagenet: IMAGENET_NORM, 'divide-255': DIVIDE_255_NORM };
const INFERENCE_BATCH = 512;

const generatedSets = new ProcessCache<ImageItem[]>({ capacity: 4 });

/**
 * Generated images listed by generateBatch manifests, as training items, shared by the stages a
 * worker runs one after another (f_D's training, the analysis). Each item keeps its bytes after the
 * first read (~0.5 KB a Colored MNIST image, 27 MB at the paper's 54,454): an object store answers
 * a GET in a millisecond or more, and the analysis reads every image f_D trained on again. The
 * keys are a stage unit's outputs, written once before its manifest, so the bytes cannot go stale.
 */
export function generatedItems(store: ArtifactStore, manifestKeys: readonly GeneratedManifestKey[]): Promise<ImageItem[]> {
  return generatedSets.get(JSON.stringify([store.uri(''), ...manifestKeys]), async () => {
    const items: ImageItem[] = [];
    for (const manifestKey of manifestKeys) {
      for (const row of await readGeneratedRows(store, manifestKey)) {
        let kept: Buffer | undefined;
        items.push({
          location: store.uri(row.key), label: row.label, bias: -1,
          load: async () => {
            if (kept) return kept;
            const bytes = await store.get(row.key);
            if (!bytes) throw new BadInputError(store.uri(row.key), 'generated image missing');
            return (kept = bytes);
          },
        });
      }
    }
    return items;
  });
}

function modelSpec(input: TrainClassifierInput): ModelSpec {
  const spec = specOf(input.dataset);
  return {
    arch: input.classifier?.arch ?? spec.arch,
    numClasses: spec.classNames.length,
    inputShape: [spec.imageSize, spec.imageSize, 3],
    seed: deriveSeed(input.seed, ROLE_STREAM[input.role]),
    init: input.classifier?.init ?? 'torch',
    padding: 'symmetric',
    inputNorm: INPUT_NORMS[input.classifier?.normalize ?? (input.classifier?.initialWeights ? 'imagenet' : 'none')],
  };
}

async function readCheckpoint(ctx: StageContext): Promise<TrainCheckpoint | undefined> {
  const key = ctx.resume?.checkpointKey;
  if (!key || !key.startsWith(`${ctx.dir}/`)) return undefined;
  const bytes = await ctx.store.get(key);
  if (!bytes) {
    ctx.log(`checkpoint ${key} is gone; starting over`);
    return undefined;
  }
  const expected = ctx.resume?.checkpointSha256;
  if (expected === undefined || sha256Hex(bytes) !== expected) {
    // A torn or altered checkpoint is never trained on: a stale epoch costs time, a wrong one the result.
    ctx.log(`checkpoint ${key} does not match its sha256 (${expected === undefined ? 'none recorded' : `expected ${expected.slice(0, 12)}..., got ${sha256Hex(bytes).slice(0, 12)}...`}); starting over`);
    return undefined;
  }
  const { meta, groups } = decodeTensors<Pick<TrainCheckpoint, 'epoch' | 'history'> & { best: { epoch: number; validAccuracy: number } }>(bytes, key);
  ctx.log(`resuming after epoch ${meta.epoch} from ${key}`);
  return { epoch: meta.epoch, history: meta.history, weights: groups.weights!, optimizer: groups.optimizer!, best: { ...meta.best, weights: groups.best! } };
}

export const trainClassifierEngine: StageEngine<TrainClassifierInput, TrainClassifierOutput> = async (input, ctx) => {
  const backend = await initBackend(ctx.log);
  const spec = modelSpec(input);
  const train = await splitReader(input.dataset, 'train', ctx.store.settings);
  const validation = await validationView(input.dataset, input.valid, input.seed, ctx.store.settings);
  const valid = validation.reader;
  ctx.log(`${input.role}: keeping the ${input.selection === 'last' ? 'last epoch' : 'best epoch on validation'}; validation ${input.valid.bias}, ${validation.images} images (${validation.conflicting} bias-conflicting)`);
  const extra = input.extraManifests?.length ? await generatedItems(ctx.store, input.extraManifests) : [];
  const repeat = input.extraRepeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new BadInputError('extraRepeat', `expected a positive integer, got ${repeat}`);
  const extraItems = Array.from({ length: repeat }, () => extra).flat();
  if (input.extraOnly && extra.length === 0) throw new BadInputError('extraOnly', 'training on generated images alone needs extraManifests');
  const trainData = input.extraOnly ? train.only(extraItems) : extra.length > 0 ? train.extend(extraItems) : train;
  if (extra.length > 0) ctx.log(`training on ${input.extraOnly ? 'no' : train.size} original + ${extra.length} generated images${repeat > 1 ? `, each ${repeat} times per epoch` : ''}`);

  let initialWeights: TrainSettings['initialWeights'];
  if (input.initModelKey) {
    initialWeights = await startingWeights(ctx.store, input.initModelKey, spec);
    ctx.log(`${input.role}: starting from ${input.initModelKey}`);
  } else if (input.classifier?.initialWeights) {
    const start = buildModel(spec);
    const weights = await resolveBundle(input.classifier.initialWeights, INITIAL_WEIGHTS, { s3: ctx.store.settings, log: ctx.log });
    await applyInitialWeights(start, weights, ctx.log);
    initialWeights = await modelWeights(start);
    start.dispose();
  }
  const settings: TrainSettings = {
    model: spec, loss: input.loss, gceQ: input.train.gceQ, epochs: input.train.epochs, batchSize: input.train.batchSize,
    lr: input.train.lr, optimizer: input.train.optimizer, lrDecay: input.train.lrDecay,
    augment: specOf(input.dataset).augment, seed: spec.seed, initialWeights, backend, selection: input.selection,
  };
  let checkpoint: Pick<StageProgress, 'checkpointKey' | 'checkpointSha256'> = { checkpointKey: ctx.resume?.checkpointKey, checkpointSha256: ctx.resume?.checkpointSha256 };
  const result = await trainClassifier(settings, { train: normalizedSource(trainData, spec.inputNorm), valid: normalizedSource(valid, spec.inputNorm) }, {
    resume: await readCheckpoint(ctx),
    signal: ctx.signal,
    onStep: (step, total, epoch) => ctx.progress({ epoch, epochs: settings.epochs, step, total, ...checkpoint }),
    async onEpoch(c, record) {
      const bytes = encodeTensors(
        { epoch: c.epoch, history: c.history, best: { epoch: c.best.epoch, validAccuracy: c.best.validAccuracy } },
        { weights: c.weights, optimizer: c.optimizer, best: c.best.weights },
      );
      // A new object per epoch, named in the heartbeat only once it is written whole: a crash
      // mid-write leaves the previous epoch's checkpoint as the one to resume from.
      checkpoint = { checkpointKey: await ctx.putScratch(CLASSIFIER_FILES.checkpoint(c.epoch), bytes), checkpointSha256: sha256Hex(bytes) };
      ctx.progress({ epoch: c.epoch, epochs: settings.epochs, validAccuracy: record.validAccuracy, ...checkpoint });
      ctx.log(`${input.role} epoch ${record.epoch}/${settings.epochs}: loss ${record.trainLoss.toFixed(4)}, valid ${record.validAccuracy.toFixed(2)}%, ${record.imagesPerSecond.toFixed(0)} img/s`);
    },
  });
  // The one writer of model.bin: its key becomes the handle loadModel reads.
  const modelKey = await ctx.put(CLASSIFIER_FILES.model, await encodeModel(result.model, {
    spec, bestEpoch: result.best.epoch, validAccuracy: result.best.validAccuracy, history: result.history, backend,
  })) as ModelKey;
  await ctx.putJson(CLASSIFIER_FILES.history, result.history);
  result.model.dispose();
  for (const key of await ctx.store.list(`${ctx.dir}/${CLASSIFIER_FILES.checkpointPrefix}`)) await ctx.store.delete(key);
  const ran = result.history.filter((h) => h.backend === backend);
  // Mean over this attempt's backend only: epochs resumed from another machine say nothing of this one.
  const imagesPerSecond = ran.length ? ran.reduce((a, h) => a + h.imagesPerSecond, 0) / ran.length : 0;
  return {
    role: input.role, modelKey, bestEpoch: result.best.epoch, validAccuracy: result.best.validAccuracy,
    protocol: {
      selection: input.selection, valid: { bias: input.valid.bias, images: validation.images, conflicting: validation.conflicting },
      init: spec.init ?? 'glorot', epochs: settings.epochs, ...(input.initModelKey ? { startedFrom: input.initModelKey } : {}),
    },
    validCurve: result.history.map((h) => h.validAccuracy),
    trainLossCurve: result.history.map((h) => h.trainLoss),
    trainImages: trainData.size, backend, imagesPerSecond: Math.round(imagesPerSecond),
  };
};

/** A trained model's kept weights, refused unless it has the architecture, classes, input and scaling about to be trained. */
async function startingWeights(store: ArtifactStore, key: string, spec: ModelSpec): Promise<NamedArray[]> {
  const { model, meta } = decodeModel(await readListedFile(store, key), store.uri(key));
  const theirs = meta.spec;
  const differs = (['arch', 'numClasses', 'inputShape', 'inputNorm'] as const).filter((f) => JSON.stringify(theirs[f]) !== JSON.stringify(spec[f]));
  if (differs.length > 0) {
    model.dispose();
    throw new BadInputError('initModelKey', `${store.uri(key)} differs from the model to train in ${differs.join(', ')}`);
  }
  try {
    return await modelWeights(model);
  } finally {
    model.dispose();
  }
}

/** A trained model and the input normalisation it was trained with. */
export async function loadModel(store: ArtifactStore, key: ModelKey): Promise<{ model: tf.LayersModel; inputNorm?: InputNorm }> {
  const { model, meta } = decodeModel(await readListedFile(store, key), store.uri(key));
  return { model, inputNorm: meta.spec.inputNorm };
}

export const scoreLossesEngine: StageEngine<ScoreLossesInput, ScoreLossesOutput> = async (input, ctx) => {
  await initBackend(ctx.log);
  const { model, inputNorm } = await loadModel(ctx.store, input.modelKey);
  const train = await splitReader(input.dataset, 'train', ctx.store.settings);
  const p = await predictAll(model, normalizedSource(train, inputNorm), INFERENCE_BATCH, (done, total) => ctx.progress({ done, total }));
  model.dispose();
  const rows: LossRow[] = train.items.map((item, i) => ({
    file: item.location, label: item.label, bias: item.bias, predicted: argmax(p.logits, p.classes, i), ...sampleLosses(p.logits, p.classes, i, item.label, input.gceQ),
  }));
  const tableKey = await ctx.putArtifact(LOSS_TABLE, rows);
  return { tableKey, rows: rows.length, backend: p.engine };
};

export const evaluateEngine: StageEngine<EvaluateInput, EvaluateOutput> = async (input, ctx) => {
  await initBackend(ctx.log);
  const { model, inputNorm } = await loadModel(ctx.store, input.modelKey);
  const test = await splitReader(input.dataset, 'test', ctx.store.settings);
  const p = await predictAll(model, normalizedSource(test, inputNorm), INFERENCE_BATCH, (done, total) => ctx.progress({ done, total }));
  model.dispose();
  const breakdown = accuracyBreakdown(p);
  await ctx.putJson(CLASSIFIER_FILES.accuracy, breakdown);
  const { unbiased, aligned, conflicting, perClass, worstClass, worstGroup } = breakdown;
  return { role: input.role, accuracy: { unbiased, aligned, conflicting, perClass, worstClass, worstGroup }, backend: p.engine };
};

/** Stages (a) and (f): f_B (GCE), the vanilla baseline (CE) or the debiased model (CE), resuming from checkpoints. */
export const trainClassifierStage = defineStage('trainClassifier', {
  unit: (input) => input.role,
  identify: async (input, s3) => {
    const weights = input.classifier?.initialWeights;
    return weights ? { initialWeights: await bundleContentId(weights, INITIAL_WEIGHTS, { s3 }) } : undefined;
  },
  run: trainClassifierEngine,
});

/** Stage (b), first half: f_B's per-sample losses over the training split. */
export const scoreLossesStage = defineStage('scoreLosses', { unit: 'biased', run: scoreLossesEngine });

/** The final comparison: a model's accuracy on the unbiased test split. */
export const evaluateStage = defineStage('evaluate', { unit: (input) => input.role, run: evaluateEngine });
