import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../engines/classifier/backend';
import { buildModel } from '../../engines/classifier/models';
import { penultimateFeatures, saliencyMaps } from '../../engines/classifier/analysis';

beforeAll(async () => {
  await initBackend();
});

/** n images of h x w x 3, each bright in one quadrant only. */
function quadrantImages(n: number, size: number): Float32Array {
  const x = new Float32Array(n * size * size * 3);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < size / 2; y++) for (let xx = 0; xx < size / 2; xx++) for (let c = 0; c < 3; c++) x[((i * size + y) * size + xx) * 3 + c] = 1;
  }
  return x;
}

describe('classifier analyses', () => {
  it('MLP: input-gradient saliency is zero where the input has no path to the score and scaled to [0, 1]', () => {
    const model = buildModel({ arch: 'mlp', numClasses: 4, inputShape: [8, 8, 3], seed: 1 });
    const s = saliencyMaps(model, quadrantImages(2, 8), [0, 3]);
    expect(s).toMatchObject({ kind: 'input-gradient', height: 8, width: 8 });
    expect(s.maps).toHaveLength(2);
    for (const m of s.maps) {
      expect(m).toHaveLength(64);
      expect(Math.max(...m)).toBeCloseTo(1, 6);
      expect(Math.min(...m)).toBeGreaterThanOrEqual(0);
    }
    const f = penultimateFeatures(model, quadrantImages(3, 8), 3);
    expect(f.dim).toBe(100);
    expect(f.features).toHaveLength(300);
    model.dispose();
  });

  it('ResNet-18: Grad-CAM in closed form equals Grad-CAM by gradients', () => {
    const model = buildModel({ arch: 'resnet18', numClasses: 4, inputShape: [16, 16, 3], seed: 2 });
    const images = quadrantImages(1, 16);
    for (let i = 0; i < images.length; i++) images[i] = images[i]! + ((i * 7919) % 13) / 13;
    const cam = saliencyMaps(model, images, [2]);
    expect(cam.kind).toBe('grad-cam');
    // By definition: weights = mean over positions of d score / d A, map = relu(sum_k w_k A_k), upsampled.
    const byGradients = tf.tidy(() => {
      const pool = model.getLayer('pool');
      const blocks = tf.model({ inputs: model.inputs, outputs: pool.input as tf.SymbolicTensor });
      const head = (a: tf.Tensor) => model.getLayer('classifier').apply(pool.apply(a)) as tf.Tensor;
      const a = blocks.apply(tf.tensor4d(images, [1, 16, 16, 3])) as tf.Tensor4D;
      const g = tf.grad((act: tf.Tensor) => tf.sum(tf.mul(head(act), tf.oneHot([2], 4))))(a);
      const w = tf.mean(g, [1, 2], true);
      const map = tf.relu(tf.sum(tf.mul(a, w), -1));
      const up = tf.image.resizeBilinear(map.expandDims(-1) as tf.Tensor4D, [16, 16]).squeeze() as tf.Tensor2D;
      return tf.div(up, tf.max(up));
    });
    const expected = byGradients.dataSync();
    byGradients.dispose();
    let maxDiff = 0;
    cam.maps[0]!.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - expected[i]!)); });
    expect(maxDiff).toBeLessThan(1e-4);
    expect(penultimateFeatures(model, images, 1).dim).toBe(512);
    model.dispose();
  });
});
