import { describe, expect, it } from 'vitest';
import { UNKNOWN_BIAS } from '../../core/bias';
import { accuracyBreakdown } from '../../engines/classifier/predict';
import { selectTopK, type LossRow } from '../../engines/selection/top-k';
import { SELECTION } from '../../stages/select-top-k';
import { lossHistogram, selectionPerClass } from '../../stages/report/selection-stats';

/** Three classes, logits that predict class (i % 3) for sample i, and labels of our choosing. */
function predictions(labels: number[], biases: number[]) {
  const logits = new Float32Array(labels.length * 3);
  labels.forEach((_, i) => { logits[i * 3 + (i % 3)] = 1; });
  return { logits, classes: 3, labels: Int32Array.from(labels), biases: Int32Array.from(biases), engine: 'test' };
}

describe('datasets with and without bias labels', () => {
  it('accuracy per class and the worst class; aligned / conflicting as before where bias labels exist', () => {
    // Predicted 0 1 2 0 1 2; labels 0 1 1 0 2 2: class 0 2/2, class 1 1/2, class 2 1/2.
    const labels = [0, 1, 1, 0, 2, 2];
    const a = accuracyBreakdown(predictions(labels, [0, 1, 0, 0, 2, 1]));
    expect(a.unbiased).toBeCloseTo(400 / 6);
    expect(a.perClass).toEqual([100, 50, 50]);
    expect(a.worstClass).toBe(50);
    // Aligned samples 0, 1, 3, 4: right on 0, 1, 3; conflicting 2, 5: right on 5.
    expect([a.aligned, a.conflicting]).toEqual([75, 50]);
    // Groups (label/bias): 0/0 2 of 2, 1/1 1 of 1, 1/0 0 of 1, 2/2 0 of 1, 2/1 1 of 1.
    expect([a.worstGroup, a.groups]).toEqual([0, 5]);
  });

  it('without bias labels the subsets are n/a (NaN), never a number made up from the unknown label', () => {
    const labels = [0, 1, 1, 0, 2, 2];
    const a = accuracyBreakdown(predictions(labels, labels.map(() => UNKNOWN_BIAS)));
    expect(a.aligned).toBeNaN();
    expect(a.conflicting).toBeNaN();
    expect(a.perClass).toEqual([100, 50, 50]);
    expect(a.counts).toEqual({ all: 6, aligned: 0, conflicting: 0 });
    expect([a.worstGroup, a.groups]).toEqual([Number.NaN, 0]);
  });

  it("the selection's precision and recall are null without bias labels, and the selection file says so", () => {
    const rows: LossRow[] = [0, 1, 2, 3].map((i) => ({ file: `${i}.png`, label: i % 2, bias: UNKNOWN_BIAS, predicted: 0, ce: i, gce: i }));
    const s = selectTopK(rows, { k: 1, mode: 'per-class', score: 'ce', numClasses: 2 });
    expect(s.rows.map((r) => r.file)).toEqual(['3.png', '2.png']);
    expect([s.precision, s.recall]).toEqual([null, null]);
    expect(SELECTION.decode(Buffer.from(SELECTION.encode(s, 'w')), 'w')).toEqual(s);
    // One labelled dataset keeps its numbers.
    const labelled = selectTopK(rows.map((r, i) => ({ ...r, bias: i === 3 ? 0 : r.label })), { k: 1, mode: 'per-class', score: 'ce', numClasses: 2 });
    expect([labelled.precision, labelled.recall]).toEqual([0.5, 1]);
  });

  it("the report's selection table and loss histogram keep images without a bias label apart", () => {
    const rows: LossRow[] = [0, 1, 2, 3].map((i) => ({ file: `${i}.png`, label: i % 2, bias: UNKNOWN_BIAS, predicted: 0, ce: 10 ** -i, gce: 0 }));
    const perClass = selectionPerClass(rows, rows.slice(0, 2), 2);
    expect(perClass.map((c) => [c.labelled, c.selected, c.conflictingSelected])).toEqual([[false, 1, 0], [false, 1, 0]]);
    const h = lossHistogram(rows, rows.slice(0, 2));
    expect([h.unlabelled.reduce((a, b) => a + b, 0), h.aligned.reduce((a, b) => a + b, 0), h.conflictingTotal]).toEqual([4, 0, 0]);
    const withBias = rows.map((r) => ({ ...r, bias: 1 - r.label }));
    const labelled = selectionPerClass(withBias, withBias.slice(0, 2), 2);
    expect(labelled.map((c) => [c.labelled, c.conflictingSelected, c.precision])).toEqual([[true, 1, 1], [true, 1, 1]]);
  });
});
