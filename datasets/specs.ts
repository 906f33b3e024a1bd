import { BadInputError } from '../core/errors';
import type { LayoutSpec } from './layouts';

/** What the pipeline needs to know about each supported dataset (paper §4.1, Table 5 and 6). */
export const DATASET_NAMES = ['cmnist', 'cmnist-lff', 'cifar10c', 'bffhq', 'bar', 'dogs_and_cats'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetSpec {
  name: DatasetName;
  classNames: readonly string[];
  /** Per class, the words or phrases a caption may name it by (the caption filter's label check). */
  classWords: readonly (readonly string[])[];
  /** Bias-conflicting ratios (percent) the paper reports for this dataset. */
  paperRatios: readonly number[];
  imageSize: number;
  /** Table 6: random crop + horizontal flip while training. */
  augment: boolean;
  /** The paper's classifier: LfF's MLP for Colored MNIST, ResNet-18 for the rest. */
  arch: 'mlp' | 'resnet18';
  /**
   * Table 6's batch size and learning-rate schedule, the defaults of `train.*` for this dataset.
   * Colored MNIST is not in Table 6: LfF's setting (batch 256, constant lr).
   */
  paperTraining: { batchSize: number; lrDecay?: { every: number; factor: number } };
  /** The benchmark whose published numbers this dataset is compared with, where not its own name. */
  publishedAs?: DatasetName;
}

const PHOTOS = { batchSize: 64, lrDecay: { every: 20, factor: 0.1 } };

const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const BAR = ['climbing', 'diving', 'fishing', 'pole vaulting', 'racing', 'throwing'];
const named = (names: readonly string[]) => names.map((n) => [n]);

export const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  cmnist: { name: 'cmnist', classNames: DIGITS, classWords: DIGITS.map((d, i) => [d, String(i)]), paperRatios: [0.5, 1, 2, 5], imageSize: 28, augment: false, arch: 'mlp', paperTraining: { batchSize: 256 } },
  // LfF's own Colored MNIST (its palette, noise, colour blocks and splits: datasets/cmnist/lff-plan.ts),
  // for baselines comparable with the literature's; the demo bundles know cmnist's palette, not this one.
  'cmnist-lff': {
    name: 'cmnist-lff', classNames: DIGITS, classWords: DIGITS.map((d, i) => [d, String(i)]), paperRatios: [0.5, 1, 2, 5], imageSize: 28, augment: false, arch: 'mlp',
    paperTraining: { batchSize: 256 }, publishedAs: 'cmnist',
  },
  cifar10c: {
    name: 'cifar10c',
    classNames: CIFAR10,
    classWords: named(CIFAR10),
    paperRatios: [0.5, 1, 2, 5],
    imageSize: 32,
    augment: false,
    arch: 'resnet18',
    paperTraining: { batchSize: 256, lrDecay: { every: 20, factor: 0.5 } },
  },
  bffhq: { name: 'bffhq', classNames: ['young', 'old'], classWords: named(['young', 'old']), paperRatios: [0.5, 1, 2, 5], imageSize: 224, augment: true, arch: 'resnet18', paperTraining: PHOTOS },
  bar: {
    name: 'bar',
    classNames: BAR,
    classWords: named(BAR),
    paperRatios: [1, 5],
    imageSize: 256,
    augment: true,
    arch: 'resnet18',
    paperTraining: PHOTOS,
  },
  dogs_and_cats: { name: 'dogs_and_cats', classNames: ['dog', 'cat'], classWords: [['dog', 'dogs'], ['cat', 'cats']], paperRatios: [1, 5], imageSize: 224, augment: true, arch: 'resnet18', paperTraining: PHOTOS },
};

/** A built-in's name (the five of the paper and LfF's Colored MNIST). */
export function isBuiltInDataset(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

/** A config error's words for a dataset that is neither built in nor described; `described` says where its spec would be. */
export function unknownDatasetMessage(name: string, described: string): string {
  return `unknown dataset ${JSON.stringify(name)}; expected one of ${DATASET_NAMES.join(', ')}, or a dataset of your own with ${described}`;
}

/** What the pipeline reads of any dataset, a built-in or one described by a spec (datasets/spec-schema.ts). */
export type DatasetFacts = Omit<DatasetSpec, 'name' | 'publishedAs'> & { name: string; publishedAs?: string } & Pick<LayoutSpec, 'layout' | 'carve' | 'csv'>;

/**
 * The spec of a dataset as an experiment names it: the one it carries (a dataset described by
 * configuration), else the built-in's. Stage inputs carry a spec only for configured datasets, so
 * the built-ins' stored units keep their keys.
 */
export function specOf(dataset: { name: string; spec?: DatasetFacts }): DatasetFacts {
  if (dataset.spec) return dataset.spec;
  if (isBuiltInDataset(dataset.name)) return DATASETS[dataset.name];
  throw new BadInputError(dataset.name, `not a built-in dataset (${DATASET_NAMES.join(', ')}), and no spec was given for it`);
}
