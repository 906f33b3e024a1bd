import paper from '../../data/paper-results.json';

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
