import { describe, expect, it } from 'vitest';
import { selectTopK, type LossRow } from '../../engines/selection/top-k';

// Hand-made table: 3 classes; conflicting rows (bias != label) are marked with a *.
const row = (file: string, label: number, bias: number, ce: number, gce = ce / 2): LossRow => ({ file, label, bias, predicted: bias, ce, gce });
const table: LossRow[] = [
  row('a', 0, 0, 0.1), row('b*', 0, 1, 5.0), row('c', 0, 0, 0.3),
  row('d', 1, 1, 0.2), row('e*', 1, 2, 4.0), row('f', 1, 1, 3.5),
  row('g', 2, 2, 0.05), row('h', 2, 2, 0.4), row('i*', 2, 0, 0.35, 9),
];

describe('top-K selection', () => {
  it('global: the K highest CE over the whole table, with precision and recall', () => {
    const s = selectTopK(table, { k: 3, mode: 'global', score: 'ce', numClasses: 3 });
    expect(s.rows.map((r) => r.file)).toEqual(['b*', 'e*', 'f']);
    expect(s.precision).toBeCloseTo(2 / 3);
    expect(s.recall).toBeCloseTo(2 / 3);
  });

  it('per class: the K highest within each class', () => {
    const s = selectTopK(table, { k: 1, mode: 'per-class', score: 'ce', numClasses: 3 });
    expect(s.rows.map((r) => r.file)).toEqual(['b*', 'e*', 'h']);
    expect(s.precision).toBeCloseTo(2 / 3);
  });

  it('by GCE instead of CE', () => {
    const s = selectTopK(table, { k: 1, mode: 'global', score: 'gce', numClasses: 3 });
    expect(s.rows.map((r) => r.file)).toEqual(['i*']);
    expect(s.precision).toBe(1);
    expect(s.recall).toBeCloseTo(1 / 3);
  });

  it("the official code's mode: per class, K = 100, 200 at 5%", () => {
    expect(selectTopK(table, { k: 7, mode: 'official', score: 'ce', numClasses: 3, ratio: 1 }).k).toBe(100);
    expect(selectTopK(table, { k: 7, mode: 'official', score: 'ce', numClasses: 3, ratio: 5 }).k).toBe(200);
    expect(selectTopK(table, { k: 7, mode: 'official', score: 'ce', numClasses: 3, ratio: 5 }).rows).toHaveLength(9);
  });

  it('K larger than the table, and an empty table', () => {
    expect(selectTopK(table, { k: 50, mode: 'global', score: 'ce', numClasses: 3 }).recall).toBe(1);
    expect(selectTopK([], { k: 5, mode: 'global', score: 'ce', numClasses: 3 })).toMatchObject({ rows: [], precision: 0, recall: 0 });
  });
});
