import lffColors from '../../data/lff-cmnist-colors.json';
import { BadInputError } from '../../core/errors';
import { deriveSeed, Rng } from '../../core/random';
import { roundHalfEven } from '../../core/round-half-even';
import { loadMnistLabels, MNIST_SIZES } from './idx';
import { checkRatios, countsOf, digit, ratioDir, ratioKey, type ColoredMnistPlan, type PlannedImage, type Rgb } from './plan';

/**
 * LfF's Colored MNIST (alinlab/LfF make_dataset.py and data/colored_mnist_protocol.py), planned the
 * way planColoredMnist plans this project's:
 * - its palette (data/lff-cmnist-colors.json) and its colour noise per severity (σ 0.05, 0.02, 0.01,
 *   0.005, 0.002 for severities 1-5; LfF's experiments use 4), one draw per image and channel,
 *   clamped to [0, 1] in float32; pixel = floor(intensity x colour), as its uint8 cast;
 * - its colours per image: within each class, in MNIST order, one block per colour whose bounds are
 *   round(n x cumulative share) (numpy rounds half to even), the class's own colour taking 1 - ratio
 *   and each of the nine others ratio / 9; so the conflicting colours are spread evenly, not drawn;
 * - its splits: all 60,000 MNIST train images for training, MNIST test with every colour at 10% for
 *   test, and no validation split. The DisEnt layout wants one, so `valid` is 5,000 training digits
 *   (seeded, in MNIST order) coloured again the way test is: it shares its digits with train and
 *   suits watching a curve, not choosing anything.
 * What differs: the noise comes from this project's seeded stream, not torch.randn's.
 */
export const LFF_SEVERITY_SIGMA: readonly number[] = lffColors.severitySigma;
export const LFF_DEFAULT_SEVERITY = 4;
const LFF_VALID_SIZE = 5_000;
export const LFF_PALETTE: readonly Rgb[] = lffColors.colors.map((c) => [c[0]!, c[1]!, c[2]!] as const);

const STREAM_TRAIN_NOISE = 11;
const STREAM_VALID_PICK = 12;
const STREAM_VALID_NOISE = 13;
const STREAM_TEST_NOISE = 14;

export interface LffPlanOptions {
  readonly ratios: readonly number[];
  readonly seed: number;
  /** 1-5 (LfF's experiments: 4). */
  readonly severity?: number;
  readonly labels?: { readonly train: Uint8Array; readonly test: Uint8Array };
}

export function planLffColoredMnist(options: LffPlanOptions): ColoredMnistPlan {
  const { seed } = options;
  if (!Number.isSafeInteger(seed)) throw new BadInputError('seed', `must be an integer, got ${seed}`);
  const severity = options.severity ?? LFF_DEFAULT_SEVERITY;
  const sigma = LFF_SEVERITY_SIGMA[severity - 1];
  if (!Number.isInteger(severity) || sigma === undefined) throw new BadInputError('severity', `must be 1-${LFF_SEVERITY_SIGMA.length} (LfF's), got ${severity}`);
  const ratios = checkRatios(options.ratios);
  const trainLabels = options.labels?.train ?? loadMnistLabels('train');
  const testLabels = options.labels?.test ?? loadMnistLabels('test');
  if (trainLabels.length !== MNIST_SIZES.train) throw new BadInputError('labels.train', `${trainLabels.length} labels, MNIST train has ${MNIST_SIZES.train}`);
  if (testLabels.length !== MNIST_SIZES.test) throw new BadInputError('labels.test', `${testLabels.length} labels, MNIST test has ${MNIST_SIZES.test}`);

  const paint = (sources: readonly number[], labels: Uint8Array, aligned: number, rng: Rng): PlannedImage[] => {
    const colours = blockColours(sources.map((s) => digit(labels, s)), aligned);
    return sources.map((source, i) => ({ source, label: digit(labels, source), bias: colours[i]!, rgb: noisyColour(colours[i]!, sigma, rng) }));
  };
  const allTrain = Array.from({ length: MNIST_SIZES.train }, (_, i) => i);
  const perRatio = ratios.map((ratio) => {
    const train = paint(allTrain, trainLabels, 1 - ratio / 100, new Rng(deriveSeed(seed, STREAM_TRAIN_NOISE, ratioKey(ratio))));
    return { ratio, dir: ratioDir(ratio), train, counts: countsOf(train) };
  });
  const validSources = new Rng(deriveSeed(seed, STREAM_VALID_PICK)).permutation(MNIST_SIZES.train).slice(0, LFF_VALID_SIZE).sort((a, b) => a - b);
  const valid = paint(validSources, trainLabels, 0.1, new Rng(deriveSeed(seed, STREAM_VALID_NOISE)));
  const test = paint(Array.from({ length: MNIST_SIZES.test }, (_, i) => i), testLabels, 0.1, new Rng(deriveSeed(seed, STREAM_TEST_NOISE)));
  return {
    recipe: 'lff', seed, ratios, splitOf: new Array<'train'>(MNIST_SIZES.train).fill('train'), perRatio,
    valid, test, validCounts: countsOf(valid), testCounts: countsOf(test),
  };
}

/**
 * Each image's colour index by LfF's block rule (make_attr_labels): for class c with n images, colour a
 * covers the class's images k with round(n x cum[a-1]) <= k < round(n x cum[a]), cum being the running
 * sum of the shares (`aligned` for a = c, (1 - aligned) / (classes - 1) otherwise) in float64, left to right.
 */
export function blockColours(labels: readonly number[], aligned: number, classes = 10): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of labels) counts[l]!++;
  const bounds = counts.map((n, c) => {
    let cum = 0;
    return Array.from({ length: classes }, (_, a) => {
      cum += a === c ? aligned : (1 - aligned) / (classes - 1);
      return roundHalfEven(n * cum);
    });
  });
  const seen = new Array<number>(classes).fill(0);
  return labels.map((l) => {
    const k = seen[l]!++;
    const a = bounds[l]!.findIndex((b) => b > k);
    // The last bound is round(n x ~1.0) = n, so every k < n finds one.
    return a < 0 ? classes - 1 : a;
  });
}

/** clamp(mean + σ·N(0, 1), 0, 1) per channel in float32, as colorize computes it. */
function noisyColour(bias: number, sigma: number, rng: Rng): Rgb {
  const mean = LFF_PALETTE[bias]!;
  const channel = (m: number) => Math.fround(Math.min(1, Math.max(0, Math.fround(m + Math.fround(Math.fround(rng.normal()) * Math.fround(sigma))))));
  const r = channel(mean[0]);
  const g = channel(mean[1]);
  const b = channel(mean[2]);
  return [r, g, b];
}
