import type { Accuracy, ClassifierRole, ExperimentResult, TrainingProtocol } from '../contracts';
import { paperTable3, publishedNumbers, type PublishedNumber } from './paper-results';
import { meanStd, type Stat } from './stats';

export interface SweepRow {
  dataset: string;
  ratio: number;
  seeds: number[];
  /** Ours, per classifier role and test subset, over the seeds that finished. */
  ours: Partial<Record<ClassifierRole, Record<AccuracySubset, Stat>>>;
  /** The paper's Table 3 for this cell (method -> unbiased accuracy %), null where it has none. */
  paper: Record<string, number> | null;
  /** Peers' published numbers for this cell, each with its source and protocol. */
  published: PublishedNumber[];
  /** How the cell's classifiers were trained and chosen (from its first experiment that says). */
  protocol?: Partial<Record<ClassifierRole, TrainingProtocol>>;
  /** Energy (Wh) and emissions (gCO2eq) of one experiment, over the seeds that measured them. */
  energy?: { wh: Stat; gCo2eq: Stat };
  /** DiffuBias minus vanilla, unbiased, paired by seed (the seeds that have both). */
  gain?: Stat;
  /** Wall seconds of one experiment, over the seeds that recorded it and computed something. */
  wallSeconds?: Stat;
  /** The units' own seconds of one experiment (ExperimentResult.unitSeconds), over the seeds that recorded them. */
  unitSeconds?: Stat;
}

/** The accuracies a sweep aggregates; worst class and worst group are absent in results from before they were measured. */
const SUBSETS = ['unbiased', 'aligned', 'conflicting', 'worstClass', 'worstGroup'] as const satisfies readonly (keyof Accuracy)[];
export type AccuracySubset = (typeof SUBSETS)[number];
const ROLES: ClassifierRole[] = ['vanilla', 'biased', 'debiased'];

/** Mean ± std per (dataset, ratio) over seeds. Pure, so the sweep workflow can run it. */
export function aggregateSweep(results: readonly ExperimentResult[]): SweepRow[] {
  const groups = new Map<string, ExperimentResult[]>();
  for (const r of results) {
    const key = `${r.dataset}\u0000${r.ratio}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows: SweepRow[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const ours: SweepRow['ours'] = {};
    for (const role of ROLES) {
      const accs = group.map((r) => r.accuracy[role]).filter((a): a is Accuracy => a !== undefined);
      if (accs.length === 0) continue;
      ours[role] = Object.fromEntries(SUBSETS.map((s) => [s, meanStd(accs.map((a) => a[s]))])) as Record<AccuracySubset, Stat>;
    }
    rows.push({
      dataset: first.dataset,
      ratio: first.ratio,
      seeds: group.map((r) => r.seed).sort((a, b) => a - b),
      ours,
      paper: paperTable3(first.dataset, first.ratio),
      published: publishedNumbers(first.dataset, first.ratio),
      protocol: protocolOf(group),
      ...energyOf(group),
      ...gainOf(group),
      ...wallOf(group),
      ...unitSecondsOf(group),
    });
  }
  return rows.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.ratio - b.ratio);
}

function energyOf(group: readonly ExperimentResult[]): Pick<SweepRow, 'energy'> {
  const totals = group.flatMap((r) => (r.energy ? [r.energy.total] : []));
  if (totals.length === 0) return {};
  return { energy: { wh: meanStd(totals.map((t) => t.kwh.total * 1000)), gCo2eq: meanStd(totals.map((t) => t.gCo2eq)) } };
}

function gainOf(group: readonly ExperimentResult[]): Pick<SweepRow, 'gain'> {
  const paired = group.flatMap((r) => {
    const [d, v] = [r.accuracy.debiased?.unbiased, r.accuracy.vanilla?.unbiased];
    return d === undefined || v === undefined ? [] : [d - v];
  });
  return paired.length === 0 ? {} : { gain: meanStd(paired) };
}

/** A run that found every unit stored took seconds: its wall time says nothing of the cell's cost. */
function computedSomething(r: ExperimentResult): boolean {
  return r.reuse === undefined || r.reuse.some((s) => s.reused < s.units);
}

function wallOf(group: readonly ExperimentResult[]): Pick<SweepRow, 'wallSeconds'> {
  const seconds = group.flatMap((r) => (r.wallSeconds === undefined || !computedSomething(r) ? [] : [r.wallSeconds]));
  return seconds.length === 0 ? {} : { wallSeconds: meanStd(seconds) };
}

function unitSecondsOf(group: readonly ExperimentResult[]): Pick<SweepRow, 'unitSeconds'> {
  const seconds = group.flatMap((r) => (r.unitSeconds === undefined ? [] : [r.unitSeconds]));
  return seconds.length === 0 ? {} : { unitSeconds: meanStd(seconds) };
}

function protocolOf(group: readonly ExperimentResult[]): SweepRow['protocol'] {
  const withTraining = group.find((r) => r.training);
  if (!withTraining?.training) return undefined;
  const out: SweepRow['protocol'] = {};
  for (const role of ROLES) {
    const protocol = withTraining.training[role]?.protocol;
    if (protocol) out[role] = protocol;
  }
  return out;
}
