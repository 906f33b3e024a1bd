/**
 * The ImageFolder layout (torchvision's): `<root>/<name>/{train,valid,test}/<class name>/<any name>`,
 * with no bias labels. A missing valid or test split is carved from train, per class, with a fixed
 * seed, so every experiment on the dataset sees the same split.
 */
import { UNKNOWN_BIAS } from '../../core/bias';
import { BadInputError } from '../../core/errors';
import type { DataSource } from '../../core/data-source';
import { Rng } from '../../core/random';
import { IMAGE_EXTENSIONS, type ListOptions, type Sample, type Split, type SplitListing } from '../disent/layout';

export interface ImageFolderSpec {
  name: string;
  classNames: readonly string[];
  /** Shares of the training images carved off as valid and test where those folders are absent. */
  carve?: { valid: number; test: number; seed: number };
}

export const DEFAULT_CARVE = { valid: 0.1, test: 0.2, seed: 0 };

/** One folder's images, labelled by the class folder they sit in. */
async function listFolder(source: DataSource, spec: ImageFolderSpec, split: Split, options: ListOptions): Promise<SplitListing | null> {
  const folder = `${spec.name}/${split}`;
  const files = await source.listFiles(folder);
  if (files === null) return null;
  const labels = new Map(spec.classNames.map((name, label) => [name, label]));
  const samples: Sample[] = [];
  const skipped: SplitListing['skipped'] = [];
  for (const path of files) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (name.startsWith('.')) continue; // .DS_Store, partial-write temp files
    const rest = path.slice(folder.length + 1).split('/');
    const problem = rest.length !== 2
      ? `not in a class folder (${folder}/<class name>/<image>)`
      : !labels.has(rest[0]!)
        ? `class folder ${JSON.stringify(rest[0])} is not one of the spec's classNames`
        : !IMAGE_EXTENSIONS.includes(name.slice(name.lastIndexOf('.')).toLowerCase())
          ? `not an image file name (one of ${IMAGE_EXTENSIONS.join(' ')})`
          : undefined;
    if (problem) {
      if (!options.skipInvalid) throw new BadInputError(source.describe(path), problem);
      skipped.push({ path: source.describe(path), reason: problem });
      continue;
    }
    samples.push({ path, label: labels.get(rest[0]!)!, bias: UNKNOWN_BIAS });
  }
  return { samples, skipped };
}

/** A share of a class's images, rounded down, but one at least where the class has three or more (so no split lacks the class). */
export function carvedCount(images: number, share: number): number {
  return images >= 3 ? Math.max(1, Math.floor(images * share)) : 0;
}

/**
 * The train split's images divided into train, valid and test: each class's images (in path order)
 * shuffled with the seed, the first `test` share to test, the next `valid` share to valid (carvedCount). Only the
 * parts whose folders are missing are taken.
 */
export function carveSplits(train: readonly Sample[], spec: ImageFolderSpec, take: { valid: boolean; test: boolean }): Record<Split, Sample[]> {
  const c = spec.carve ?? DEFAULT_CARVE;
  const out: Record<Split, Sample[]> = { train: [], valid: [], test: [] };
  spec.classNames.forEach((_, label) => {
    const mine = new Rng(c.seed * 1000 + label).shuffle(train.filter((s) => s.label === label));
    const nTest = take.test ? carvedCount(mine.length, c.test) : 0;
    const nValid = take.valid ? carvedCount(mine.length, c.valid) : 0;
    out.test.push(...mine.slice(0, nTest));
    out.valid.push(...mine.slice(nTest, nTest + nValid));
    out.train.push(...mine.slice(nTest + nValid));
  });
  for (const split of ['train', 'valid', 'test'] as const) out[split].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/** Lists a split; a missing train folder, or a split with no image, fails naming the folder. */
export async function listImageFolderSplit(source: DataSource, spec: ImageFolderSpec, split: Split, options: ListOptions = {}): Promise<SplitListing> {
  const own = split === 'train' ? null : await listFolder(source, spec, split, options);
  let listing = own;
  if (!listing) {
    const train = await listFolder(source, spec, 'train', options);
    if (!train) {
      throw new BadInputError(source.describe(`${spec.name}/train`), 'train split not found (ImageFolder layout: <root>/<dataset>/train/<class name>/<image>, with valid/ and test/ beside or carved from train)');
    }
    const [hasValid, hasTest] = await Promise.all((['valid', 'test'] as const).map(async (s) => (await source.listFiles(`${spec.name}/${s}`)) !== null));
    listing = { samples: carveSplits(train.samples, spec, { valid: !hasValid, test: !hasTest })[split], skipped: split === 'train' ? train.skipped : [] };
  }
  if (listing.samples.length === 0) throw new BadInputError(source.describe(`${spec.name}/${split}`), `no images in the ${split} split`);
  return listing;
}
