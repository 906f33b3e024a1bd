/**
 * Side stage (after generation): how varied the generated images are within each class. A set
 * whose images of a class all look alike teaches f_D one shape per class, however many images it
 * holds; this says how alike they are, in a measure that needs no model: the RMS difference
 * between two images of a class, each seen as its shape (luminance at 32 px, stretched to [0, 1],
 * so that neither its colour nor its brightness counts). scripts/diversity-baseline.ts measures
 * real training images the same way.
 */
import { z } from 'zod';
import type { ImageItem } from '../datasets/disent/reader';
import { BadInputError } from '../core/errors';
import { deriveSeed, Rng } from '../core/random';
import { jsonArtifact, type ArtifactKey, type ArtifactKind } from './artifacts';
import type { GeneratedManifestKey } from './contracts';
import type { StageEngine } from './context';
import { itemPixels } from './dataset-access';
import { defineStage } from './define-stage';
import { readGeneratedRows, type GeneratedRow } from './generated-rows';

export interface MeasureDiversityInput {
  experimentId: string;
  generatedManifests: GeneratedManifestKey[];
  /** Images sampled per class (seeded): pairs grow with its square. */
  perClass: number;
  seed: number;
}

export interface ClassDiversity {
  label: number;
  images: number;
  /** Distinct prompts among the class's images. */
  prompts: number;
  sampled: number;
  /** Mean RMS difference over the sampled pairs; null under two images. */
  meanDistance: number | null;
  /** Share of sampled images whose nearest other image is within NEAR_DUPLICATE; null under two images. */
  nearDuplicates: number | null;
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
}

/** Greyscale side of the images compared. */
const SIZE = 32;
/** An RMS difference below this is two renderings of one image (2% of the intensity range). */
const NEAR_DUPLICATE = 0.02;

const share = z.number().min(0).max(1).nullable();
const count = z.number().int().nonnegative();
export const DIVERSITY: ArtifactKind<Diversity> = jsonArtifact('diversity.json', z.object({
  size: count, nearDuplicate: z.number(),
  perClass: z.array(z.object({ label: z.number().int(), images: count, prompts: count, sampled: count, meanDistance: z.number().nonnegative().nullable(), nearDuplicates: share })),
}));

/**
 * Each image's shape: its luminance (Rec. 601) at SIZE px, stretched to [0, 1] (a flat image is
 * all zeros). A red and a green copy of one digit are the same shape.
 */
export async function shapesOf(items: readonly ImageItem[]): Promise<Float32Array[]> {
  const { raw } = await itemPixels(items, SIZE, undefined);
  const pixels = SIZE * SIZE;
  return items.map((_, i) => {
    const grey = new Float32Array(pixels);
    const at = i * pixels * 3;
    for (let p = 0; p < pixels; p++) grey[p] = 0.299 * raw[at + 3 * p]! + 0.587 * raw[at + 3 * p + 1]! + 0.114 * raw[at + 3 * p + 2]!;
    let [low, high] = [Infinity, -Infinity];
    for (const v of grey) [low, high] = [Math.min(low, v), Math.max(high, v)];
    for (let p = 0; p < pixels; p++) grey[p] = high > low ? (grey[p]! - low) / (high - low) : 0;
    return grey;
  });
}

/** The same `n` of `items` for the same seed and class, whoever asks (the stage, the baseline script). */
export function sampleOf<T>(items: readonly T[], n: number, seed: number, label: number): T[] {
  return new Rng(deriveSeed(seed, label)).shuffle([...items]).slice(0, n);
}

function rms(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum / a.length);
}

/** Mean pairwise distance and near-duplicate share of one class's images. */
export function classDiversity(images: readonly Float32Array[]): Pick<ClassDiversity, 'meanDistance' | 'nearDuplicates'> {
  if (images.length < 2) return { meanDistance: null, nearDuplicates: null };
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
  return { meanDistance: sum / pairs, nearDuplicates: nearest.filter((d) => d < NEAR_DUPLICATE).length / images.length };
}

function weightedMean(classes: readonly ClassDiversity[], field: 'meanDistance' | 'nearDuplicates'): number | null {
  const measured = classes.filter((c) => c[field] !== null);
  const weight = measured.reduce((n, c) => n + c.sampled, 0);
  return weight === 0 ? null : measured.reduce((sum, c) => sum + c[field]! * c.sampled, 0) / weight;
}

export const measureDiversityEngine: StageEngine<MeasureDiversityInput, MeasureDiversityOutput> = async (input, ctx) => {
  const byClass = new Map<number, GeneratedRow[]>();
  for (const key of input.generatedManifests) {
    for (const row of await readGeneratedRows(ctx.store, key)) byClass.set(row.label, [...(byClass.get(row.label) ?? []), row]);
  }
  const perClass: ClassDiversity[] = [];
  for (const [label, rows] of [...byClass].sort(([a], [b]) => a - b)) {
    if (ctx.signal.aborted) throw new Error('diversity measure cancelled');
    const sample = sampleOf(rows, input.perClass, input.seed, label);
    const items: ImageItem[] = sample.map((row) => ({
      location: ctx.store.uri(row.key), label, bias: -1,
      load: async () => {
        const bytes = await ctx.store.get(row.key);
        if (!bytes) throw new BadInputError(ctx.store.uri(row.key), 'generated image missing');
        return bytes;
      },
    }));
    perClass.push({ label, images: rows.length, prompts: new Set(rows.map((r) => r.prompt)).size, sampled: sample.length, ...classDiversity(await shapesOf(items)) });
    ctx.progress({ done: perClass.length, total: byClass.size });
  }
  const diversityKey = await ctx.putArtifact(DIVERSITY, { size: SIZE, nearDuplicate: NEAR_DUPLICATE, perClass });
  return {
    diversityKey,
    sampled: perClass.reduce((n, c) => n + c.sampled, 0),
    meanDistance: weightedMean(perClass, 'meanDistance'),
    nearDuplicateShare: weightedMean(perClass, 'nearDuplicates'),
  };
};

export const measureDiversityStage = defineStage('measureDiversity', { unit: 'generated', run: measureDiversityEngine });
