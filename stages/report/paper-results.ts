import paper from '../../data/paper-results.json';
import published from '../../data/published-results.json';

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
  unbiased: number;
  /** Short citation: paper and table. */
  cite: string;
  /** How that paper chose its model, in a few words. */
  protocol: string;
}

interface PublishedFile {
  sources: Record<string, { cite: string; protocol: string }>;
  [dataset: string]: unknown;
}

/** Peers' published unbiased accuracies for a dataset and ratio (Colored MNIST: DisEnt, DeNetDM); [] where none. */
export function publishedNumbers(dataset: string, ratio: number): PublishedNumber[] {
  const file = published as unknown as PublishedFile;
  const table = file[dataset] as { ratios: number[]; rows: { source: string; method: string; unbiased: number[] }[] } | undefined;
  const column = table?.ratios.indexOf(ratio) ?? -1;
  if (!table || column < 0) return [];
  return table.rows.map((row) => ({ method: row.method, unbiased: row.unbiased[column]!, ...file.sources[row.source]! }));
}
