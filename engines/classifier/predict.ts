import * as tf from '@tensorflow/tfjs';
import type { BatchSource } from './batch-source';
import { denseStack, denseStackStep } from './dense-stack';
import { onNativeTensorflow } from './tensorflow-ops';

export interface Predictions {
  /** [n, classes] row-major, in the reader's item order. */
  logits: Float32Array;
  classes: number;
  labels: Int32Array;
  biases: Int32Array;
}

/**
 * The model's logits for a batch in inference mode. A dense stack on the native backend runs on
 * TensorFlow's own MatMul/BiasAdd/Relu (a third of the ops of the layers' path); anything else
 * through `apply`, not `predict`: predict's per-call input standardisation costs 7x the MLP's
 * forward pass there. Without `training`, BatchNorm uses its moving statistics all the same.
 */
export function batchForward(model: tf.LayersModel): (x: Float32Array, size: number) => tf.Tensor2D {
  const dense = onNativeTensorflow() ? denseStack(model) : undefined;
  if (dense) return denseStackStep(dense).logits;
  const [h, w, c] = model.inputs[0]!.shape.slice(1) as [number, number, number];
  return (x, size) => tf.tidy(() => model.apply(tf.tensor4d(x, [size, h, w, c])) as tf.Tensor2D);
}

/** Logits of every image of a split, in item order (inference mode: BatchNorm uses its statistics). */
export async function predictAll(
  model: tf.LayersModel, reader: BatchSource, batchSize: number, onBatch?: (done: number, total: number) => void,
): Promise<Predictions> {
  const forward = batchForward(model);
  const classes = model.outputs[0]!.shape[1] as number;
  const logits = new Float32Array(reader.size * classes);
  const labels = new Int32Array(reader.size);
  const biases = new Int32Array(reader.size);
  let done = 0;
  for await (const batch of reader.batches({ batchSize })) {
    const out = forward(batch.x, batch.size);
    const values = await out.data();
    out.dispose();
    batch.indices.forEach((idx, k) => {
      logits.set(values.subarray(k * classes, (k + 1) * classes), idx * classes);
      labels[idx] = batch.labels[k]!;
      biases[idx] = batch.biases[k]!;
    });
    done += batch.size;
    onBatch?.(done, reader.size);
  }
  return { logits, classes, labels, biases };
}

export function argmax(logits: Float32Array, classes: number, row: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) if (logits[row * classes + j]! > logits[row * classes + best]!) best = j;
  return best;
}

export interface AccuracyBreakdown {
  /** Percent correct over all samples, the bias-aligned ones and the bias-conflicting ones. */
  unbiased: number;
  aligned: number;
  conflicting: number;
  counts: { all: number; aligned: number; conflicting: number };
}

export function accuracyBreakdown(p: Predictions): AccuracyBreakdown {
  const hit = { all: 0, aligned: 0, conflicting: 0 };
  const n = { all: 0, aligned: 0, conflicting: 0 };
  for (let i = 0; i < p.labels.length; i++) {
    const ok = argmax(p.logits, p.classes, i) === p.labels[i] ? 1 : 0;
    const group = p.biases[i] === p.labels[i] ? 'aligned' : 'conflicting';
    hit.all += ok;
    n.all += 1;
    hit[group] += ok;
    n[group] += 1;
  }
  const pct = (a: number, b: number) => (b === 0 ? Number.NaN : (100 * a) / b);
  return { unbiased: pct(hit.all, n.all), aligned: pct(hit.aligned, n.aligned), conflicting: pct(hit.conflicting, n.conflicting), counts: n };
}
