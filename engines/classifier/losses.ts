import * as tf from '@tensorflow/tfjs';

export type LossName = 'ce' | 'gce';

/** Per-sample cross-entropy -log p_y from logits [n, c] and int32 labels [n]. */
export function perSampleCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels, logits.shape[1])), 1);
    return tf.neg(picked) as tf.Tensor1D;
  });
}

/**
 * Per-sample generalized cross-entropy (paper eq. 1-2; Zhang & Sabuncu 2018): (1 - p_y^q) / q.
 * Its gradient is p_y^q times the CE gradient, so samples the model already finds easy (the
 * bias-aligned ones) dominate training: that is what makes f_B biased on purpose.
 */
export function perSampleGce(logits: tf.Tensor2D, labels: tf.Tensor1D, q: number): tf.Tensor1D {
  if (!(q > 0 && q <= 1)) throw new RangeError(`GCE q must be in (0, 1], got ${q}`);
  return tf.tidy(() => {
    // p_y^q computed as exp(q * log p_y): stable where p_y underflows.
    const logPy = tf.neg(perSampleCrossEntropy(logits, labels));
    return tf.div(tf.sub(1, tf.exp(tf.mul(logPy, q))), q) as tf.Tensor1D;
  });
}

export function perSampleLoss(loss: LossName, logits: tf.Tensor2D, labels: tf.Tensor1D, q: number): tf.Tensor1D {
  return loss === 'gce' ? perSampleGce(logits, labels, q) : perSampleCrossEntropy(logits, labels);
}

/**
 * CE (-log p_y) and GCE ((1 - p_y^q) / q) of one row of logits [n, c], in float64: the per-sample
 * loss table top-K ranks by (scoreLosses). Stable for large logits (log-sum-exp from the row's max).
 */
export function sampleLosses(logits: Float32Array, classes: number, row: number, label: number, q: number): { ce: number; gce: number } {
  let max = -Infinity;
  for (let j = 0; j < classes; j++) max = Math.max(max, logits[row * classes + j]!);
  let sum = 0;
  for (let j = 0; j < classes; j++) sum += Math.exp(logits[row * classes + j]! - max);
  const logP = logits[row * classes + label]! - max - Math.log(sum);
  return { ce: -logP, gce: (1 - Math.exp(q * logP)) / q };
}

/**
 * The mean loss's gradient with respect to the logits, computed on the host in float64 from
 * logits [n, c] read back: for CE it is (softmax - onehot) / n; GCE's is the same scaled per
 * sample by p_y^q (see perSampleGce). Returns it with the batch's summed loss. The same numbers
 * as perSampleLoss's tape, for steps that write their backward pass by hand (dense-stack.ts).
 */
export function lossGradient(
  loss: LossName, logits: Float32Array, labels: Int32Array, classes: number, q: number,
): { sum: number; grad: Float32Array } {
  if (loss === 'gce' && !(q > 0 && q <= 1)) throw new RangeError(`GCE q must be in (0, 1], got ${q}`);
  const n = labels.length;
  const grad = new Float32Array(n * classes);
  const probs = new Float64Array(classes);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, logits[row + j]!);
    let z = 0;
    for (let j = 0; j < classes; j++) z += (probs[j] = Math.exp(logits[row + j]! - max));
    const y = labels[i]!;
    const ce = Math.log(z) - (logits[row + y]! - max);
    let weight = 1;
    if (loss === 'gce') {
      weight = Math.exp(-q * ce);
      sum += (1 - weight) / q;
    } else {
      sum += ce;
    }
    const scale = weight / n;
    for (let j = 0; j < classes; j++) grad[row + j] = scale * (probs[j]! / z - (j === y ? 1 : 0));
  }
  return { sum, grad };
}
