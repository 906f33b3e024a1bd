import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { perSampleCrossEntropy, perSampleGce } from '../../engines/classifier/losses';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const logitsData = [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3, 4, 1]];
const labelsData = [0, 2, 0];

function reference(logits: number[][], labels: number[], q?: number): number[] {
  return logits.map((row, i) => {
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const p = exps[labels[i]!]! / exps.reduce((a, b) => a + b, 0);
    return q === undefined ? -Math.log(p) : (1 - p ** q) / q;
  });
}

/** Central finite differences of the summed loss with respect to every logit. */
function numericGrad(logits: number[][], labels: number[], q: number | undefined, eps = 1e-3): number[][] {
  return logits.map((row, i) =>
    row.map((_, j) => {
      const plus = logits.map((r) => [...r]);
      const minus = logits.map((r) => [...r]);
      plus[i]![j]! += eps;
      minus[i]![j]! -= eps;
      const sum = (l: number[][]) => reference(l, labels, q).reduce((a, b) => a + b, 0);
      return (sum(plus) - sum(minus)) / (2 * eps);
    }),
  );
}

describe.each([
  ['CE', undefined],
  ['GCE q=0.7', 0.7],
  ['GCE q=1 (MAE-like)', 1],
])('%s', (_name, q) => {
  const f = (logits: tf.Tensor2D) =>
    q === undefined ? perSampleCrossEntropy(logits, tf.tensor1d(labelsData, 'int32')) : perSampleGce(logits, tf.tensor1d(labelsData, 'int32'), q);

  it('value matches the formula', () => {
    const value = f(tf.tensor2d(logitsData)).arraySync();
    reference(logitsData, labelsData, q).forEach((v, i) => expect(value[i]).toBeCloseTo(v, 5));
  });

  it('gradient matches finite differences', () => {
    const grad = tf.grad((x: tf.Tensor) => tf.sum(f(x as tf.Tensor2D)))(tf.tensor2d(logitsData)).arraySync() as number[][];
    const numeric = numericGrad(logitsData, labelsData, q);
    grad.forEach((row, i) => row.forEach((g, j) => expect(g).toBeCloseTo(numeric[i]![j]!, 3)));
  });
});

it('GCE up-weights easy samples relative to CE (dGCE = p^q dCE)', () => {
  const labels = tf.tensor1d(labelsData, 'int32');
  const x = tf.tensor2d(logitsData);
  const gCe = tf.grad((t: tf.Tensor) => tf.sum(perSampleCrossEntropy(t as tf.Tensor2D, labels)))(x).arraySync() as number[][];
  const gGce = tf.grad((t: tf.Tensor) => tf.sum(perSampleGce(t as tf.Tensor2D, labels, 0.7)))(x).arraySync() as number[][];
  const p = reference(logitsData, labelsData).map((ce) => Math.exp(-ce));
  gGce.forEach((row, i) => row.forEach((g, j) => expect(g).toBeCloseTo(p[i]! ** 0.7 * gCe[i]![j]!, 5)));
});
