/**
 * Test-double engines: the shape of each real engine's inputs and outputs, with trivial work, so
 * the workflows, activities, manifests and cache run for real around them. A stage without a
 * double here runs its product engine (a side stage that reads only what other doubles wrote
 * needs none). Registered only by the test harness, never by the product worker.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { DATASETS } from '../../datasets/specs';
import type { Engines } from '../../stages/activity-table';
import { productEngines } from '../../stages/product-stages';
import { CAPTIONS } from '../../stages/caption-image';
import { CLASSIFIER_FILES, LOSS_TABLE } from '../../stages/classifier-stages';
import { KEPT_CAPTIONS } from '../../stages/filter-captions';
import { GENERATED_ROWS_FILE, readGeneratedRows, type GeneratedRow } from '../../stages/generated-rows';
import type { CaptionFile, ModelKey, SelectedImage } from '../../stages/contracts';
import { SELECTION } from '../../stages/select-top-k';
import { INSPECTION } from '../../stages/inspect-generated';
import { ANALYSIS } from '../../stages/analyze-models';
import { DIVERSITY } from '../../stages/measure-diversity';
import { readArtifact } from '../../stages/artifacts';
import type { TopKSelection } from '../../engines/selection/top-k';
import type { StageContext } from '../../stages/context';
import { BadInputError } from '../../core/errors';

export interface DoubleLog {
  /** `stage:unit` in start order. */
  started: string[];
  /** Most units of each stage running at once. */
  maxConcurrent: Record<string, number>;
  running: Record<string, number>;
  /** `experimentId:role:epoch` for every epoch trained, across attempts. */
  epochs: string[];
}

export interface DoubleOptions {
  /** Milliseconds each caption takes (lets tests pause or cancel mid-fan-out). */
  captionDelayMs?: number;
  /** Lose the worker (a retryable error) after this epoch on the first attempt of each training run. */
  crashAfterEpoch?: number;
}

/** A 28 px PNG whose gray level encodes the class. */
async function plainImage(label: number): Promise<Buffer> {
  const v = 20 + label * 20;
  return sharp({ create: { width: 28, height: 28, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

export function doubleEngines(options: DoubleOptions = {}): { engines: Engines; log: DoubleLog } {
  const log: DoubleLog = { started: [], maxConcurrent: {}, running: {}, epochs: [] };
  const track = async <T>(stage: string, unit: string, work: () => Promise<T>): Promise<T> => {
    log.started.push(`${stage}:${unit}`);
    log.running[stage] = (log.running[stage] ?? 0) + 1;
    log.maxConcurrent[stage] = Math.max(log.maxConcurrent[stage] ?? 0, log.running[stage]!);
    try {
      return await work();
    } finally {
      log.running[stage]! -= 1;
    }
  };
  const readJson = async <T>(ctx: StageContext, key: string): Promise<T> => {
    const value = await ctx.store.getJson<T>(key);
    if (value === null) throw new Error(`double: ${key} missing`);
    return value;
  };

  const doubles = {
    prepareDataset: (input) =>
      track('prepareDataset', 'dataset', async () => {
        if (input.dataset.root.includes('missing')) throw new BadInputError(`${input.dataset.root}/cmnist`, 'no such folder');
        return {
        dataset: input.dataset,
        contentId: `double-${input.dataset.name}-${input.dataset.ratio}`,
        classNames: [...DATASETS.cmnist.classNames],
        counts: { train: 1000, conflicting: 10, valid: 100, test: 200 },
        };
      }),
    trainClassifier: (input, ctx) =>
      track('trainClassifier', input.role, async () => {
        for (let epoch = (ctx.resume?.epoch ?? 0) + 1; epoch <= input.train.epochs; epoch++) {
          log.epochs.push(`${input.experimentId}:${input.role}:${epoch}`);
          // The product's checkpoint name, and its sha256 published with it, as the product's heartbeat does.
          const bytes = Buffer.from(JSON.stringify({ epoch }));
          const checkpointKey = await ctx.putScratch(CLASSIFIER_FILES.checkpoint(epoch), bytes);
          ctx.progress({ epoch, epochs: input.train.epochs, validAccuracy: 40 + epoch, checkpointKey, checkpointSha256: createHash('sha256').update(bytes).digest('hex') });
          if (epoch === options.crashAfterEpoch && ctx.resume === undefined) throw new Error('worker lost (test double)');
        }
        // Under the product's model name, but a JSON body that only the doubles read back: the cast
        // says so (the product's loadModel would refuse it, not being listed with a model's format).
        const modelKey = await ctx.put(CLASSIFIER_FILES.model, JSON.stringify({ role: input.role, loss: input.loss, extra: input.extraManifests ?? [] }), 'application/octet-stream') as ModelKey;
        const epochs = input.train.epochs;
        return {
          role: input.role, modelKey, bestEpoch: epochs, validAccuracy: 50, trainImages: 1000, backend: 'double', imagesPerSecond: 0,
          protocol: {
            selection: input.selection, valid: { bias: input.valid.bias, images: 100, conflicting: 90 }, init: input.classifier?.init ?? 'torch', epochs,
            ...(input.initModelKey ? { startedFrom: input.initModelKey } : {}),
          },
          validCurve: Array.from({ length: epochs }, () => 50),
        };
      }),
    scoreLosses: (input, ctx) =>
      track('scoreLosses', 'biased', async () => {
        await readJson(ctx, input.modelKey);
        const rows = Array.from({ length: 50 }, (_, i) => ({ file: `train/${i}.png`, label: i % 10, bias: (i * 7) % 10, predicted: 0, ce: i / 10, gce: i / 20 }));
        const tableKey = await ctx.putArtifact(LOSS_TABLE, rows);
        return { tableKey, rows: rows.length, backend: 'double' };
      }),
    selectTopK: (input, ctx) =>
      track('selectTopK', 'topk', async () => {
        const rows = await readArtifact(ctx.store, LOSS_TABLE, input.tableKey);
        const selected = [...rows].sort((a, b) => b.ce - a.ce).slice(0, input.k);
        const items: SelectedImage[] = selected.map((r, index) => ({ index, image: r.file, label: r.label }));
        // What the product stores: the rows with their losses, precision and recall.
        const selection: TopKSelection = { rows: selected, precision: 0.9, recall: 0.8, k: input.k };
        const selectionKey = await ctx.putArtifact(SELECTION, selection);
        return { selectionKey, items, precision: selection.precision, recall: selection.recall };
      }),
    captionImage: (input, ctx) =>
      track('captionImage', String(input.unit), async () => {
        if (options.captionDelayMs) {
          const until = Date.now() + options.captionDelayMs;
          while (Date.now() < until && !ctx.signal.aborted) {
            ctx.progress({ done: 0, total: input.items.length });
            await sleep(Math.min(100, until - Date.now()), ctx.signal);
          }
        }
        // The product's file: one CaptionFile per image of the unit.
        const files: CaptionFile[] = input.items.map((item) => ({
          image: item.image, label: item.label, captions: Array.from({ length: input.perImage }, (_, i) => `a handwritten ${item.label} variant ${i}`),
        }));
        const captionsKey = await ctx.putArtifact(CAPTIONS, files);
        return { captionsKey, captions: files.length * input.perImage };
      }),
    filterCaptions: (input, ctx) =>
      track('filterCaptions', 'filter', async () => {
        const all = (await Promise.all(input.captionKeys.map((k) => readArtifact(ctx.store, CAPTIONS, k)))).flat();
        const kept = all.flatMap((c) => c.captions.slice(0, 2).map((text) => ({ text, label: c.label, image: c.image })));
        const keptKey = await ctx.putArtifact(KEPT_CAPTIONS, kept);
        return { keptKey, kept: kept.length, dropped: all.length, topWords: [{ word: 'handwritten', count: kept.length }] };
      }),
    generateBatch: (input, ctx) =>
      track('generateBatch', String(input.batchIndex), async () => {
        const kept = await readJson<{ text: string; label: number }[]>(ctx, input.keptKey);
        const rows: GeneratedRow[] = [];
        for (let i = input.first; i < input.first + input.count; i++) {
          const caption = kept[i % kept.length]!;
          // A real (if plain) image of the caption's class, so a real classifier can train on it.
          const key = await ctx.put(`images/${String(i).padStart(6, '0')}.png`, await plainImage(caption.label), 'image/png');
          rows.push({ key, label: caption.label, prompt: caption.text, seed: input.baseSeed + i, source: `double/${i % kept.length}` });
          ctx.progress({ done: i - input.first + 1, total: input.count });
        }
        await ctx.putJson(GENERATED_ROWS_FILE, rows);
        return { images: input.count };
      }),
    evaluate: (input, ctx) =>
      track('evaluate', input.role, async () => {
        await readJson(ctx, input.modelKey);
        const score = { biased: 20, vanilla: 30, debiased: 60 }[input.role] + input.dataset.ratio + input.dataset.seed;
        // The product's shape: per class, the worst class and the worst (class x bias) group too.
        const perClass = Array.from({ length: 10 }, (_, label) => score + (label === 0 ? -10 : 0));
        return { role: input.role, accuracy: { unbiased: score, aligned: 99, conflicting: score - 5, perClass, worstClass: score - 10, worstGroup: score - 20 }, backend: 'double' };
      }),
    inspectGenerated: (input, ctx) =>
      track('inspectGenerated', 'generated', async () => {
        // The product's shape: Colored MNIST with generated images gets the judge's verdict (here: all recognised); others nothing.
        if (input.dataset.name !== 'cmnist' || input.generatedManifests.length === 0) return {};
        const perClass = Array.from({ length: 10 }, (_, label) => ({ label, generated: 0, recognised: 0 }));
        for (const key of input.generatedManifests) {
          for (const row of await readGeneratedRows(ctx.store, key)) {
            perClass[row.label]!.generated++;
            perClass[row.label]!.recognised++;
          }
        }
        const generated = perClass.reduce((n, c) => n + c.generated, 0);
        const colours = { cells: perClass.map(() => Array.from({ length: 10 }, () => ({ count: 0 }))), measured: 0, ownColour: 0, noForeground: 0 };
        const inspectionKey = await ctx.putArtifact(INSPECTION, { judge: { method: 'double', testAccuracy: 95, generated, recognised: generated, perClass }, colours });
        return { inspectionKey, judge: { generated, recognised: generated, judgeTestAccuracy: 95 } };
      }),
    analyzeModels: (input, ctx) =>
      track('analyzeModels', 'models', async () => {
        await readJson(ctx, input.models.biased);
        await readJson(ctx, input.models.debiased);
        const analysisKey = await ctx.putArtifact(ANALYSIS, { saliency: { kind: 'input-gradient', images: [] }, embedding: { method: 'umap', model: 'debiased', points: [] } });
        return { analysisKey, saliency: 'input-gradient', points: 0 };
      }),
    measureDiversity: (input, ctx) =>
      track('measureDiversity', 'generated', async () => {
        // The product's shape, without the real images the double-based experiments do not have:
        // per class its generated images (plain, so all alike) beside a made-up real spread.
        const byClass = new Map<number, GeneratedRow[]>();
        for (const key of input.generatedManifests) {
          for (const row of await readGeneratedRows(ctx.store, key)) byClass.set(row.label, [...(byClass.get(row.label) ?? []), row]);
        }
        const perClass = [...byClass].map(([label, rows]) => {
          const sampled = Math.min(rows.length, input.perClass);
          const pairs = sampled > 1;
          return {
            label, images: rows.length, prompts: new Set(rows.map((r) => r.prompt)).size, sampled, meanDistance: pairs ? 0 : null, nearDuplicates: pairs ? 1 : null,
            real: { sampled, meanDistance: pairs ? 0.3 : null, nearDuplicates: pairs ? 0 : null },
          };
        });
        const diversityKey = await ctx.putArtifact(DIVERSITY, { size: 32, nearDuplicate: 0.02, perClass });
        const measured = perClass.some((c) => c.meanDistance !== null);
        return { diversityKey, sampled: perClass.reduce((n, c) => n + c.sampled, 0), meanDistance: measured ? 0 : null, nearDuplicateShare: measured ? 1 : null, realMeanDistance: measured ? 0.3 : null };
      }),
  } satisfies Partial<Engines>;
  return { engines: { ...productEngines(), ...doubles }, log };
}
