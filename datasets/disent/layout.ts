import { BadInputError } from '../../core/errors';
import type { DataSource } from '../../core/data-source';

export type Split = 'train' | 'valid' | 'test';

export interface Sample {
  /** Path relative to the dataset source's root. */
  path: string;
  label: number;
  /** The bias attribute's class (its color, background, ...); equals label when bias-aligned. */
  bias: number;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.webp'];

/** `<idx>_<label>_<bias>.<ext>`: label and bias are the last two `_` fields (DisEnt/BiasEnsemble). */
export function parseSampleName(path: string, numClasses: number, describe: (p: string) => string = (p) => p): Sample {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot).toLowerCase() : '';
  if (!IMAGE_EXTENSIONS.includes(ext)) {
    throw new BadInputError(describe(path), `not an image file name (expected <idx>_<label>_<bias> with one of ${IMAGE_EXTENSIONS.join(' ')})`);
  }
  const fields = name.slice(0, dot).split('_');
  const label = Number(fields[fields.length - 2]);
  const bias = Number(fields[fields.length - 1]);
  if (fields.length < 3 || !Number.isInteger(label) || !Number.isInteger(bias) || fields[fields.length - 2] === '' || fields[fields.length - 1] === '') {
    throw new BadInputError(describe(path), 'file name not of the form <idx>_<label>_<bias>.<ext>');
  }
  if (label < 0 || label >= numClasses) throw new BadInputError(describe(path), `label ${label} out of range 0..${numClasses - 1}`);
  if (bias < 0) throw new BadInputError(describe(path), `bias ${bias} is negative`);
  return { path, label, bias };
}

export function ratioFolder(ratio: number): string {
  return `${ratio}pct`;
}

/** Where each split lives: train under `<pct>/{align,conflict}`, valid and test beside (or valid under `<pct>/`). */
export function splitFolders(dataset: string, ratio: number, split: Split): string[][] {
  const pct = `${dataset}/${ratioFolder(ratio)}`;
  if (split === 'train') return [[`${pct}/align`, `${pct}/conflict`]];
  if (split === 'valid') return [[`${dataset}/valid`], [`${pct}/valid`]];
  return [[`${dataset}/test`]];
}

export interface ListOptions {
  /** Skip files with bad names instead of failing; they are counted in `skipped`. */
  skipInvalid?: boolean;
}

export interface SplitListing {
  samples: Sample[];
  skipped: { path: string; reason: string }[];
}

/** Lists a split's samples; a missing folder or a bad file name fails naming the path. */
export async function listSplit(
  source: DataSource, dataset: string, ratio: number, split: Split, numClasses: number, options: ListOptions = {},
): Promise<SplitListing> {
  const alternatives = splitFolders(dataset, ratio, split);
  for (const folders of alternatives) {
    const listed = await Promise.all(folders.map((f) => source.listFiles(f)));
    if (listed.some((l) => l === null)) continue;
    const samples: Sample[] = [];
    const skipped: SplitListing['skipped'] = [];
    for (const path of listed.flat() as string[]) {
      if (path.slice(path.lastIndexOf('/') + 1).startsWith('.')) continue; // .DS_Store, partial-write temp files
      try {
        samples.push(parseSampleName(path, numClasses, (p) => source.describe(p)));
      } catch (err) {
        if (!options.skipInvalid || !(err instanceof BadInputError)) throw err;
        skipped.push({ path: source.describe(path), reason: err.message });
      }
    }
    if (samples.length === 0) throw new BadInputError(source.describe(folders[0]!), `no images in the ${split} split`);
    return { samples, skipped };
  }
  const missing = alternatives.map((folders) => folders.map((f) => source.describe(f)).join(' + ')).join(' or ');
  throw new BadInputError(missing, `${split} split not found (DisEnt layout: <root>/<dataset>/<pct>/{align,conflict}/<label>/<idx>_<label>_<bias>.png, with valid/ and test/ beside)`);
}
