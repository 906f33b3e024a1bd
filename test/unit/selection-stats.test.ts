import { describe, expect, it } from 'vitest';
import type { LossRow } from '../../engines/selection/top-k';
import { lossHistogram, selectionPerClass } from '../../stages/report/selection-stats';

const row = (label: number, bias: number, ce: number): LossRow => ({ file: `${label}-${bias}-${ce}`, label, bias, predicted: bias, ce, gce: ce / 2 });

describe('selection statistics for the report', () => {
  // Class 0: two aligned (low loss), two conflicting (one fitted at 1e-5, one at 2.0); class 1: one aligned, one conflicting at 5.0.
  const rows = [row(0, 0, 0.01), row(0, 0, 0.02), row(0, 3, 1e-5), row(0, 3, 2), row(1, 1, 0.5), row(1, 4, 5)];
  const selected = [row(0, 3, 2), row(0, 0, 0.02), row(1, 4, 5)];

  it('histogram: aligned and conflicting counted apart, the selection marked, fitted conflicting counted', () => {
    const h = lossHistogram(rows, selected, 'ce', 8);
    expect(h.aligned.reduce((a, b) => a + b)).toBe(3);
    expect(h.conflicting.reduce((a, b) => a + b)).toBe(3);
    expect(h.selected.reduce((a, b) => a + b)).toBe(3);
    expect(h.edges).toHaveLength(9);
    expect(h.edges[0]).toBe(-7);
    // log10(5) = 0.7, rounded up to a quarter: the last edge is 0.75.
    expect(h.edges[8]).toBeCloseTo(0.75, 12);
    expect(h.lowestSelected).toBe(0.02);
    expect(h).toMatchObject({ fittedConflicting: 1, conflictingTotal: 3 });
    // 1e-5 sits in bin floor((-5 + 7) / 0.96875) = 2.
    expect(h.conflicting[2]).toBe(1);
  });

  it('per class: selected, how many are bias-conflicting, precision and recall', () => {
    const [c0, c1] = selectionPerClass(rows, selected, 2);
    expect(c0).toEqual({ label: 0, selected: 2, conflictingSelected: 1, conflictingInClass: 2, labelled: true, precision: 0.5, recall: 0.5 });
    expect(c1).toEqual({ label: 1, selected: 1, conflictingSelected: 1, conflictingInClass: 1, labelled: true, precision: 1, recall: 1 });
  });
});
