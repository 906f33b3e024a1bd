import * as tf from '@tensorflow/tfjs';
import { biasKnown } from '../../core/bias';
import { chosenBackend } from './backend';
import type { BatchSource } from './batch-source';
import { DenseStackSession } from './dense-onnx';
import { denseStack } from './dense-stack';

export interface Predictions {
  /** [n, classes] row-major, in the reader's item order. */
  logits: Float32Array;
  classes: number;
  labels: Int32Array;
  biases: Int32Array;
  /** What computed the logits: 'onnxruntime' or the tfjs backend's name. */
  engine: string;
}

/** Logits of batches in inference mode, by whichever engine is fastest for the model. */
export interface BatchPredictor {
  readonly engine: string;
  logits(x: Float32Array, size: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/**
 * A dense stack (the LfF MLP) runs on onnxruntime's kernels, whatever the tfjs backend: on this
 * project's CPUs its whole forward pass takes less time than TensorFlow's first MatMul alone
 * (engines/classifier/dense-onnx.ts). Anything else goes through `apply`, not `predict`:
 * predict's per-call input standardisation costs 7x the forward pass. Without `training`,
 * BatchNorm uses its moving statistics all the same.
 */
export async function batchPredictor(model: tf.LayersModel): Promise<BatchPredictor> {
  const dense = denseStack(model);
  if (dense) {
    const layers = await Promise.all(dense.map(async (l) => ({
      kernel: (await l.kernel.data()) as Float32Array, bias: (await l.bias.data()) as Float32Array,
      inputs: l.kernel.shape[0]!, outputs: l.kernel.shape[1]!, relu: l.relu,
    })));
    const session = await DenseStackSession.create(layers);
    return { engine: 'onnxruntime', logits: (x, size) => session.logits(x, size), dispose: () => session.dispose() };
  }
  const [h, w, c] = model.inputs[0]!.shape.slice(1) as [number, number, number];
  return {
    // tfjs calls both native builds 'tensorflow'; the name initBackend settled on says which.
    engine: (await chosenBackend()) ?? tf.getBackend(),
    async logits(x, size) {
      const out = tf.tidy(() => model.apply(tf.tensor4d(x.subarray(0, size * h * w * c), [size, h, w, c])) as tf.Tensor2D);
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    dispose: async () => {},
  };
}

/** Logits of every image of a split, in item order (inference mode: BatchNorm uses its statistics). */
export async function predictAll(
  model: tf.LayersModel, reader: BatchSource, batchSize: number, onBatch?: (done: number, total: number) => void,
): Promise<Predictions> {
  const predictor = await batchPredictor(model);
  const classes = model.outputs[0]!.shape[1] as number;
  const logits = new Float32Array(reader.size * classes);
  const labels = new Int32Array(reader.size);
  const biases = new Int32Array(reader.size);
  let done = 0;
  try {
    for await (const batch of reader.batches({ batchSize })) {
      const values = await predictor.logits(batch.x, batch.size);
      batch.indices.forEach((idx, k) => {
        logits.set(values.subarray(k * classes, (k + 1) * classes), idx * classes);
        labels[idx] = batch.labels[k]!;
        biases[idx] = batch.biases[k]!;
      });
      done += batch.size;
      onBatch?.(done, reader.size);
    }
  } finally {
    await predictor.dispose();
  }
  return { logits, classes, labels, biases, engine: predictor.engine };
}

export function argmax(logits: Float32Array, classes: number, row: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) if (logits[row * classes + j]! > logits[row * classes + best]!) best = j;
  return best;
}

export interface AccuracyBreakdown {
  /**
   * Percent correct over all samples, the bias-aligned ones and the bias-conflicting ones (NaN
   * where a subset is empty, or the samples have no bias labels).
   */
  unbiased: number;
  aligned: number;
  conflicting: number;
  /** Per class (NaN for a class with no sample), and the lowest of them. */
  perClass: number[];
  worstClass: number;
  /**
   * The lowest accuracy over the groups (class x bias attribute, Waterbirds' and CelebA's groups)
   * that have samples, and how many groups that was; NaN and 0 without bias labels.
   */
  worstGroup: number;
  groups: number;
  counts: { all: number; aligned: number; conflicting: number };
}

export function accuracyBreakdown(p: Predictions): AccuracyBreakdown {
  const hit = { all: 0, aligned: 0, conflicting: 0 };
  const n = { all: 0, aligned: 0, conflicting: 0 };
  const classHit = new Array<number>(p.classes).fill(0);
  const classN = new Array<number>(p.classes).fill(0);
  const groups = new Map<string, { hit: number; n: number }>();
  for (let i = 0; i < p.labels.length; i++) {
    const label = p.labels[i]!;
    const ok = argmax(p.logits, p.classes, i) === label ? 1 : 0;
    hit.all += ok;
    n.all += 1;
    classHit[label]! += ok;
    classN[label]! += 1;
    if (!biasKnown(p.biases[i]!)) continue;
    const subset = p.biases[i] === label ? 'aligned' : 'conflicting';
    hit[subset] += ok;
    n[subset] += 1;
    const key = `${label}/${p.biases[i]}`;
    const g = groups.get(key) ?? { hit: 0, n: 0 };
    groups.set(key, { hit: g.hit + ok, n: g.n + 1 });
  }
  const pct = (a: number, b: number) => (b === 0 ? Number.NaN : (100 * a) / b);
  const perClass = classHit.map((h, c) => pct(h, classN[c]!));
  const present = perClass.filter((v) => Number.isFinite(v));
  return {
    unbiased: pct(hit.all, n.all), aligned: pct(hit.aligned, n.aligned), conflicting: pct(hit.conflicting, n.conflicting),
    perClass, worstClass: present.length ? Math.min(...present) : Number.NaN,
    worstGroup: groups.size ? Math.min(...[...groups.values()].map((g) => pct(g.hit, g.n))) : Number.NaN, groups: groups.size,
    counts: n,
  };
}
