import paper from '../../data/paper-results.json';
import published from '../../data/published-results.json';
import reproduced from '../../data/reproduction-results.json';
import { DATASETS, isBuiltInDataset } from '../../datasets/specs';

/**
 * The paper's Table 3 (unbiased test accuracy, %, mean of three trials) for one dataset and ratio:
 * method -> accuracy, or null where the paper reports none (e.g. Colored MNIST).
 */
export function paperTable3(dataset: string, ratio: number): Record<string, number> | null {
  const ratios = (paper.ratios as Record<string, number[]>)[dataset];
  const column = ratios?.indexOf(ratio) ?? -1;
  if (column < 0) return null;
  const row: Record<string, number> = {};
  for (const [method, byDataset] of Object.entries(paper.table3_unbiased_accuracy as unknown as Record<string, Record<string, (number | null)[]>>)) {
    const value = byDataset[dataset]?.[column];
    if (typeof value === 'number') row[method] = value;
  }
  return Object.keys(row).length > 0 ? row : null;
}

/** A peer's published number for one cell (data/published-results.json), with where it comes from. */
export interface PublishedNumber {
  method: string;
  /** Test accuracy (%) on `subset`: most papers score the unbiased test set; BFFHQ and BAR are scored on bias-conflicting images. */
  value: number;
  subset: 'unbiased' | 'conflicting';
  /** Who published it (a key of the file's sources) and the short citation. */
  source: string;
  cite: string;
  /** How that paper chose its model, in a few words. */
  protocol: string;
}

type PublishedRow = { source: string; method: string; unbiased?: number[]; conflicting?: number[] };

interface PublishedFile {
  sources: Record<string, { cite: string; protocol: string }>;
  [dataset: string]: unknown;
}

/** The seed paper's own numbers come from its Table 3 (paperTable3), not from the peers' file. */
const SEED_PAPER = 'diffubias';

/**
 * Peers' published accuracies for a dataset and ratio; [] where none. A dataset built as a peer's
 * benchmark (`cmnist-lff`) is compared with that benchmark's rows (DatasetSpec.publishedAs).
 */
export function publishedNumbers(dataset: string, ratio: number): PublishedNumber[] {
  const file = published as unknown as PublishedFile;
  const table = file[(isBuiltInDataset(dataset) ? DATASETS[dataset].publishedAs : undefined) ?? dataset] as { ratios: number[]; rows: PublishedRow[] } | undefined;
  const column = table?.ratios.indexOf(ratio) ?? -1;
  if (!table || column < 0) return [];
  return table.rows.flatMap((row) => {
    if (row.source === SEED_PAPER) return [];
    const subset = row.unbiased ? 'unbiased' : 'conflicting';
    const value = (row.unbiased ?? row.conflicting)?.[column];
    return value === undefined ? [] : [{ method: row.method, value, subset, source: row.source, ...file.sources[row.source]! }];
  });
}

/** One cell of this project's own reproduction: mean and sample std over n seeds. */
export interface ReproducedCell {
  ratio: number;
  n: number;
  vanilla: [number, number];
  diffubias: [number, number];
  gain: [number, number];
}

export interface Reproduction {
  recipe: string;
  protocol: string;
  /** When, at which commit and on what it was measured. */
  measured: string;
  rows: ReproducedCell[];
}

/** This project's reproduction at the paper's budget for a dataset (data/reproduction-results.json), or null where none ran. */
export function ownReproduction(dataset: string): Reproduction | null {
  const file = reproduced as unknown as { measured: string } & Record<string, Omit<Reproduction, 'measured'> | string>;
  const entry = file[dataset];
  return typeof entry === 'object' ? { ...entry, measured: file.measured } : null;
}
