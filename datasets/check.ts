/**
 * What a dataset holds and what is wrong with it, before hours of training find out: counts per
 * split, class and bias; files whose names or bytes are not images (truncated, unreadable,
 * oversized); the same bytes twice in a split or across splits (leakage); classes empty, tiny or
 * missing from a split. `diffubias dataset check` prints it; prepareDataset fails on its errors.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { BadInputError } from '../core/errors';
import type { DataSource } from '../core/data-source';
import { imageSizeProblem, MAX_INPUT_PIXELS } from '../core/image-limits';
import { splitFolders, type Split, type SplitListing } from './disent/layout';
import { isConflicting } from '../core/bias';
import { listDatasetSplit, type LayoutSpec } from './layouts';

export const SPLITS: readonly Split[] = ['train', 'valid', 'test'];

export interface Finding {
  kind: 'split-missing' | 'bad-name' | 'unreadable' | 'truncated' | 'oversized' | 'duplicate' | 'leak' | 'missing-class' | 'empty-class' | 'tiny-class';
  /** The file or folder, as the user would find it. */
  where: string;
  detail: string;
}

export interface SplitCounts {
  images: number;
  /** Images that are not bias-aligned (label ≠ bias). */
  conflicting: number;
  perClass: number[];
}

export interface DatasetCheck {
  dataset: string;
  ratio: number;
  root: string;
  splits: Partial<Record<Split, SplitCounts>>;
  /** What makes the dataset unusable or its numbers wrong: an experiment refuses to start. */
  errors: Finding[];
  /** What a user should know (a tiny class, a duplicate within a split). */
  warnings: Finding[];
  /** Whether the images' bytes were read (signatures, truncation, duplicates), not only their names. */
  bytesChecked: boolean;
}

export interface CheckOptions {
  /** Read every image (local folders: seconds for 70,000 small files). Default true. */
  readBytes?: boolean;
  /** A training class with fewer images than this is worth a warning. Default 10. */
  minPerClass?: number;
}

/**
 * Where a user would add a class's images to a split: the class folder of an ImageFolder, the
 * metadata file of a CSV dataset, the split's folder in the DisEnt layout (whose file names carry
 * the class).
 */
function classPlace(spec: LayoutSpec, ratio: number, split: Split, label: number): string {
  if (spec.layout === 'imagefolder') return `${spec.name}/${split}/${spec.classNames[label]}`;
  if (spec.layout === 'csv' && spec.csv) return `${spec.name}/${spec.csv.file}`;
  const folders = splitFolders(spec.name, ratio, split)[0]!;
  return folders.length === 1 ? folders[0]! : folders[0]!.slice(0, folders[0]!.lastIndexOf('/'));
}

export async function checkDataset(source: DataSource, spec: LayoutSpec, ratio: number, options: CheckOptions = {}): Promise<DatasetCheck> {
  const dataset = spec.name;
  const numClasses = spec.classNames.length;
  const minPerClass = options.minPerClass ?? 10;
  const readBytes = options.readBytes ?? true;
  const check: DatasetCheck = { dataset, ratio, root: source.root, splits: {}, errors: [], warnings: [], bytesChecked: readBytes };
  const listings: Partial<Record<Split, SplitListing>> = {};
  for (const split of SPLITS) {
    try {
      listings[split] = await listDatasetSplit(source, spec, ratio, split, { skipInvalid: true });
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      check.errors.push({ kind: 'split-missing', where: err.where, detail: err.message.slice(err.where.length + 2) });
    }
  }
  for (const split of SPLITS) {
    const listing = listings[split];
    if (!listing) continue;
    for (const s of listing.skipped) check.errors.push({ kind: 'bad-name', where: s.path, detail: s.reason });
    const perClass = new Array<number>(numClasses).fill(0);
    for (const s of listing.samples) perClass[s.label]! += 1;
    check.splits[split] = { images: listing.samples.length, conflicting: listing.samples.filter(isConflicting).length, perClass };
    perClass.forEach((n, label) => {
      const where = source.describe(classPlace(spec, ratio, split, label));
      const name = `class ${label} (${spec.classNames[label]})`;
      if (n === 0) check.errors.push({ kind: 'missing-class', where, detail: `${split} has no image of ${name}` });
      else if (split === 'train' && n < minPerClass) check.warnings.push({ kind: 'tiny-class', where, detail: `${name} has ${n} training image${n === 1 ? '' : 's'} (under ${minPerClass})` });
    });
  }
  if (readBytes) await checkBytes(source, listings, check);
  return check;
}

/** Reads every image once: its signature and end, its size limits, and a hash for duplicates. */
async function checkBytes(source: DataSource, listings: Partial<Record<Split, SplitListing>>, check: DatasetCheck): Promise<void> {
  const seen = new Map<string, { split: Split; path: string }>();
  for (const split of SPLITS) {
    for (const sample of listings[split]?.samples ?? []) {
      const where = source.describe(sample.path);
      let bytes: Buffer;
      try {
        bytes = await source.read(sample.path);
      } catch (err) {
        check.errors.push({ kind: 'unreadable', where, detail: err instanceof BadInputError ? err.message.slice(err.where.length + 2) : (err as Error).message });
        continue;
      }
      const tooBig = imageSizeProblem(bytes);
      if (tooBig) {
        check.errors.push({ kind: 'oversized', where, detail: tooBig });
        continue;
      }
      const broken = await imageBytesProblem(bytes);
      if (broken) check.errors.push({ kind: broken.kind, where, detail: broken.detail });
      const hash = createHash('sha1').update(bytes).digest('hex');
      const first = seen.get(hash);
      if (!first) {
        seen.set(hash, { split, path: where });
      } else if (first.split === split) {
        check.warnings.push({ kind: 'duplicate', where, detail: `the same bytes as ${first.path} (${split})` });
      } else {
        check.errors.push({ kind: 'leak', where, detail: `the same bytes as ${first.path}: one image in ${first.split} and ${split}` });
      }
    }
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_END = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/**
 * A truncated PNG or JPEG is found from its end marker without decoding (PNG's IEND chunk, JPEG's
 * EOI); other formats, and PNG/JPEG whose header is wrong, by sharp reading their header.
 */
async function imageBytesProblem(bytes: Buffer): Promise<{ kind: 'truncated' | 'unreadable'; detail: string } | undefined> {
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    return bytes.subarray(bytes.length - 8).equals(PNG_END) ? undefined : { kind: 'truncated', detail: `PNG without its IEND chunk (${bytes.length} bytes): cut short` };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // EOI, possibly followed by padding some writers add.
    const tail = bytes.subarray(Math.max(0, bytes.length - 64));
    return tail.includes(Buffer.from([0xff, 0xd9])) ? undefined : { kind: 'truncated', detail: `JPEG without its end marker (${bytes.length} bytes): cut short` };
  }
  try {
    const meta = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    if (!meta.width || !meta.height) return { kind: 'unreadable', detail: 'no image size in its header' };
    return undefined;
  } catch (err) {
    return { kind: 'unreadable', detail: `not a readable image (${(err as Error).message})` };
  }
}

/** The check as lines a person reads: counts, then errors and warnings (at most `max` of each). */
export function describeCheck(check: DatasetCheck, max = 20): string[] {
  const lines = [`${check.dataset} ${check.ratio}% under ${check.root}${check.bytesChecked ? '' : ' (names only: bytes not read)'}`];
  for (const split of SPLITS) {
    const c = check.splits[split];
    if (c) lines.push(`  ${split}: ${c.images} images, ${c.conflicting} bias-conflicting; per class ${c.perClass.join(' ')}`);
  }
  const list = (what: string, findings: Finding[]) => {
    if (findings.length === 0) return;
    lines.push(`${findings.length} ${what}:`);
    for (const f of findings.slice(0, max)) lines.push(`  ${f.kind}: ${f.where}: ${f.detail}`);
    if (findings.length > max) lines.push(`  … and ${findings.length - max} more`);
  };
  list(check.errors.length === 1 ? 'error' : 'errors', check.errors);
  list(check.warnings.length === 1 ? 'warning' : 'warnings', check.warnings);
  if (check.errors.length === 0 && check.warnings.length === 0) lines.push('no problems found');
  return lines;
}
