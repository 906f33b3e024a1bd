/**
 * What the report says about f_B's losses and the top-K selection: a histogram of the loss of
 * bias-aligned and bias-conflicting training images with the selected ones marked, and per class
 * how many were selected, how many of those are bias-conflicting, and how many of the class's
 * bias-conflicting images that is. Pure: the report's numbers can be checked by hand.
 */
import type { LossRow } from '../../engines/selection/top-k';
import { biasKnown, isConflicting } from '../../core/bias';

export interface LossHistogram {
  score: 'ce' | 'gce';
  /** Bin edges in log10(loss); bins are [edges[i], edges[i + 1]). */
  edges: number[];
  aligned: number[];
  conflicting: number[];
  /** Images without a bias label (a dataset that has none): neither aligned nor conflicting. */
  unlabelled: number[];
  selected: number[];
  /** The lowest loss among the selected images (with per-class K, each class has its own). */
  lowestSelected: number | undefined;
  /** Bias-conflicting images f_B fitted (loss at most 0.001): no K reaches them first. */
  fittedConflicting: number;
  conflictingTotal: number;
}

/** Losses below this are drawn in the first bin (a loss of 0 has no logarithm). */
const FLOOR = 1e-7;

export function lossHistogram(rows: readonly LossRow[], selected: readonly LossRow[], score: 'ce' | 'gce' = 'ce', bins = 36): LossHistogram {
  const x = (r: LossRow) => Math.log10(Math.max(r[score], FLOOR));
  const lo = Math.log10(FLOOR);
  const hi = Math.max(lo + 1, Math.ceil(Math.max(...rows.map(x), lo) * 4) / 4);
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  const bin = (r: LossRow) => Math.min(bins - 1, Math.floor((x(r) - lo) / width));
  const aligned = new Array<number>(bins).fill(0);
  const conflicting = new Array<number>(bins).fill(0);
  const unlabelled = new Array<number>(bins).fill(0);
  const picked = new Array<number>(bins).fill(0);
  let fitted = 0;
  for (const r of rows) {
    if (!biasKnown(r.bias)) unlabelled[bin(r)]! += 1;
    else if (r.label === r.bias) aligned[bin(r)]! += 1;
    else {
      conflicting[bin(r)]! += 1;
      if (r[score] <= 1e-3) fitted++;
    }
  }
  for (const r of selected) picked[bin(r)]! += 1;
  return {
    score, edges, aligned, conflicting, unlabelled, selected: picked,
    lowestSelected: selected.length ? Math.min(...selected.map((r) => r[score])) : undefined,
    fittedConflicting: fitted, conflictingTotal: conflicting.reduce((a, b) => a + b, 0),
  };
}

export interface ClassSelection {
  label: number;
  selected: number;
  /** Selected images that are bias-conflicting (the rest are bias-aligned: wrongly selected). */
  conflictingSelected: number;
  conflictingInClass: number;
  /** Whether the class's images have bias labels: without them the counts and shares below are n/a. */
  labelled: boolean;
  /** conflictingSelected / selected; NaN when nothing was selected. */
  precision: number;
  /** conflictingSelected / conflictingInClass; NaN when the class has none. */
  recall: number;
}

export function selectionPerClass(rows: readonly LossRow[], selected: readonly LossRow[], numClasses: number): ClassSelection[] {
  return Array.from({ length: numClasses }, (_, label) => {
    const mine = selected.filter((r) => r.label === label);
    const conflictingSelected = mine.filter(isConflicting).length;
    const conflictingInClass = rows.filter((r) => r.label === label && isConflicting(r)).length;
    const labelled = rows.filter((r) => r.label === label).every((r) => biasKnown(r.bias));
    return {
      label, selected: mine.length, conflictingSelected, conflictingInClass, labelled,
      precision: mine.length ? conflictingSelected / mine.length : Number.NaN,
      recall: conflictingInClass ? conflictingSelected / conflictingInClass : Number.NaN,
    };
  });
}
