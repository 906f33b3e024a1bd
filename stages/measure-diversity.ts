/**
 * Side stage (after generation): how varied the generated images are within each class, beside the
 * real training images of that class. A set whose images of a class all look alike teaches f_D one
 * shape per class, however many images it holds; this says how alike they are, in a measure that
 * needs no model: the RMS difference between two images of a class, each seen as its shape
 * (luminance at 32 px, contrast-stretched, so that neither its colour nor its brightness counts).
 */
import { z } from 'zod';
import type { ImageItem } from '../datasets/disent/reader';
import { BadInputError } from '../core/errors';
import { deriveSeed, Rng } from '../core/random';
import { jsonArtifact, type ArtifactKey, type ArtifactKind } from './artifacts';
import type { ArtifactStore } from '../core/store';
import type { DatasetRef, GeneratedManifestKey } from './contracts';
import type { StageEngine } from './context';
import { itemPixels, splitReader } from './dataset-access';
import { defineStage } from './define-stage';
import { readGeneratedRows, type GeneratedRow } from './generated-rows';

export interface MeasureDiversityInput {
  experimentId: string;
  /** Its training split is the baseline: as many real images of each class, measured the same way. */
  dataset: DatasetRef;
  generatedManifests: GeneratedManifestKey[];
  /** Images sampled per class (seeded): pairs grow with its square. */
  perClass: number;
  seed: number;
}

/** How alike a sample of images is. */
export interface Spread {
  sampled: number;
  /** Mean RMS difference over the sampled pairs; null under two images. */
  meanDistance: number | null;
  /** Share of sampled images whose nearest other image is within NEAR_DUPLICATE; null under two images. */
  nearDuplicates: number | null;
}

/** One class: its generated images' spread, and its real training images' (as many, where it has them). */
export interface ClassDiversity extends Spread {
  label: number;
  images: number;
  /** Distinct prompts among the class's generated images. */
  prompts: number;
  real: Spread;
}

export interface Diversity {
  size: number;
  nearDuplicate: number;
  perClass: ClassDiversity[];
}

export interface MeasureDiversityOutput {
  diversityKey: ArtifactKey<Diversity>;
  /** Images measured, over all classes. */
  sampled: number;
  /** Means over the classes with two images or more, weighted by images sampled; null where none has. */
  meanDistance: number | null;
  nearDuplicateShare: number | null;
  /** The real training images' mean, over the same classes and weights. */
  realMeanDistance: number | null;
}

/** Greyscale side of the images compared. */
const SIZE = 32;
/** An RMS difference below this is two renderings of one image (2% of the intensity range). */
const NEAR_DUPLICATE = 0.02;

const count = z.number().int().nonnegative();
const spread = { sampled: count, meanDistance: z.number().nonnegative().nullable(), nearDuplicates: z.number().min(0).max(1).nullable() };
export const DIVERSITY: ArtifactKind<Diversity> = jsonArtifact('diversity.json', z.object({
  size: count, nearDuplicate: z.number(),
  perClass: z.array(z.object({ label: z.number().int(), images: count, prompts: count, ...spread, real: z.object(spread) })),
}));

/**
 * Each image's shape: its luminance (Rec. 601) at SIZE px, stretched so that its 5th percentile is
 * 0 and its 95th is 1, clipped to [0, 1] (a flat image is all zeros). A red and a green copy of one
 * digit are the same shape. Percentiles rather than the extremes: resizing overshoots at sharp
 * edges, clipped at white but not at a darker colour, and the extremes would keep that difference.
 */
async function shapesOf(items: readonly ImageItem[]): Promise<Float32Array[]> {
  const { raw } = await itemPixels(items, SIZE, undefined);
  const pixels = SIZE * SIZE;
  return items.map((_, i) => {
    const grey = new Float32Array(pixels);
    const at = i * pixels * 3;
    for (let p = 0; p < pixels; p++) grey[p] = 0.299 * raw[at + 3 * p]! + 0.587 * raw[at + 3 * p + 1]! + 0.114 * raw[at + 3 * p + 2]!;
    const sorted = Float32Array.from(grey).sort();
    const [low, high] = [sorted[Math.floor(0.05 * (pixels - 1))]!, sorted[Math.ceil(0.95 * (pixels - 1))]!];
    for (let p = 0; p < pixels; p++) grey[p] = high > low ? Math.min(1, Math.max(0, (grey[p]! - low) / (high - low))) : 0;
    return grey;
  });
}

/** `n` of `items`, the same ones for the same seed and class. */
function sampleOf<T>(items: readonly T[], n: number, seed: number, label: number): T[] {
  return new Rng(deriveSeed(seed, label)).shuffle([...items]).slice(0, n);
}

function rms(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum / a.length);
}

/** Mean pairwise distance and near-duplicate share of one class's images. */
function spreadOf(images: readonly Float32Array[]): Spread {
  if (images.length < 2) return { sampled: images.length, meanDistance: null, nearDuplicates: null };
  const nearest = new Array<number>(images.length).fill(Infinity);
  let sum = 0;
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const d = rms(images[i]!, images[j]!);
      sum += d;
      nearest[i] = Math.min(nearest[i]!, d);
      nearest[j] = Math.min(nearest[j]!, d);
    }
  }
  const pairs = (images.length * (images.length - 1)) / 2;
  return { sampled: images.length, meanDistance: sum / pairs, nearDuplicates: nearest.filter((d) => d < NEAR_DUPLICATE).length / images.length };
}

/** Over the classes whose generated images have pairs, weighted by generated images sampled. */
function weightedMean(classes: readonly ClassDiversity[], value: (c: ClassDiversity) => number | null): number | null {
  const measured = classes.filter((c) => c.meanDistance !== null && value(c) !== null);
  const weight = measured.reduce((n, c) => n + c.sampled, 0);
  return weight === 0 ? null : measured.reduce((sum, c) => sum + value(c)! * c.sampled, 0) / weight;
}

/** A generated image, read from the store as an ImageItem (what itemPixels decodes). */
function generatedItem(store: ArtifactStore, row: GeneratedRow): ImageItem {
  return {
    location: store.uri(row.key), label: row.label, bias: -1,
    load: async () => {
      const bytes = await store.get(row.key);
      if (!bytes) throw new BadInputError(store.uri(row.key), 'generated image missing');
      return bytes;
    },
  };
}

export const measureDiversityEngine: StageEngine<MeasureDiversityInput, MeasureDiversityOutput> = async (input, ctx) => {
  const byClass = new Map<number, GeneratedRow[]>();
  for (const key of input.generatedManifests) {
    for (const row of await readGeneratedRows(ctx.store, key)) {
      const rows = byClass.get(row.label);
      if (rows) rows.push(row);
      else byClass.set(row.label, [row]);
    }
  }
  const train = await splitReader(input.dataset, 'train', ctx.store.settings);
  const perClass: ClassDiversity[] = [];
  for (const [label, rows] of [...byClass].sort(([a], [b]) => a - b)) {
    if (ctx.signal.aborted) throw new Error('diversity measure cancelled');
    const generated = sampleOf(rows, input.perClass, input.seed, label).map((row) => generatedItem(ctx.store, row));
    const real = sampleOf(train.items.filter((item) => item.label === label), generated.length, input.seed, label);
    perClass.push({
      label, images: rows.length, prompts: new Set(rows.map((r) => r.prompt)).size,
      ...spreadOf(await shapesOf(generated)), real: spreadOf(await shapesOf(real)),
    });
    ctx.progress({ done: perClass.length, total: byClass.size });
  }
  const diversityKey = await ctx.putArtifact(DIVERSITY, { size: SIZE, nearDuplicate: NEAR_DUPLICATE, perClass });
  return {
    diversityKey,
    sampled: perClass.reduce((n, c) => n + c.sampled, 0),
    meanDistance: weightedMean(perClass, (c) => c.meanDistance),
    nearDuplicateShare: weightedMean(perClass, (c) => c.nearDuplicates),
    realMeanDistance: weightedMean(perClass, (c) => c.real.meanDistance),
  };
};

export const measureDiversityStage = defineStage('measureDiversity', { unit: 'generated', run: measureDiversityEngine });
