import { biasKnown, isConflicting } from '../../core/bias';

/** One training image's losses under f_B (a row of scoreLosses' table). */
export interface LossRow {
  /** The image's location (full path or s3:// URI), as its split listed it: the selected images are read from here. */
  file: string;
  label: number;
  bias: number;
  predicted: number;
  ce: number;
  gce: number;
}

export type TopKMode = 'global' | 'per-class' | 'official';

export interface TopKOptions {
  k: number;
  /** global: the K highest over all (paper §3.3); per-class: K per class; official: per class, K=100 (200 at 5%). */
  mode: TopKMode;
  score: 'ce' | 'gce';
  numClasses: number;
  /** Needed by the official mode's K rule. */
  ratio?: number;
}

export interface TopKSelection {
  rows: LossRow[];
  /** Share of the selection that is bias-conflicting (known from the file names); null without bias labels. */
  precision: number | null;
  /** Share of all bias-conflicting training samples that were selected; null without bias labels. */
  recall: number | null;
  /** The K actually used per group (the official mode changes it with the ratio). */
  k: number;
}

export { isConflicting };

/** Highest loss first; ties broken by file name so the selection is the same on every run. */
function byLossDesc(score: 'ce' | 'gce') {
  return (a: LossRow, b: LossRow) => b[score] - a[score] || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
}

export function selectTopK(rows: readonly LossRow[], options: TopKOptions): TopKSelection {
  const k = options.mode === 'official' ? (options.ratio === 5 ? 200 : 100) : options.k;
  const order = byLossDesc(options.score);
  let selected: LossRow[];
  if (options.mode === 'global') {
    selected = [...rows].sort(order).slice(0, k);
  } else {
    selected = [];
    for (let c = 0; c < options.numClasses; c++) selected.push(...rows.filter((r) => r.label === c).sort(order).slice(0, k));
    selected.sort(order);
  }
  const conflicting = rows.filter(isConflicting).length;
  const hits = selected.filter(isConflicting).length;
  const labelled = rows.every((r) => biasKnown(r.bias));
  return {
    rows: selected,
    precision: !labelled ? null : selected.length === 0 ? 0 : hits / selected.length,
    recall: !labelled ? null : conflicting === 0 ? 0 : hits / conflicting,
    k,
  };
}
