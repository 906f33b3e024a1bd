/**
 * What a trained classifier looks at and how it sees the data (paper Figs. 2 and 7): saliency maps
 * on input images, and its penultimate features for a 2-D embedding.
 *
 * Saliency: ResNet-18 gets Grad-CAM on its last convolutional block. With global average pooling
 * and one linear layer after that block, Grad-CAM's channel weights (the class score's gradient
 * averaged over positions) are the classifier's weights for the class divided by the number of
 * positions, so the map is computed in closed form from one forward pass. The MLP has no
 * convolution: it gets the input gradient (|d score / d pixel|, max over channels), named as such.
 */
import * as tf from '@tensorflow/tfjs';

export type SaliencyKind = 'grad-cam' | 'input-gradient';

export interface SaliencyMaps {
  kind: SaliencyKind;
  height: number;
  width: number;
  /** One map per image, row-major, scaled to [0, 1] per image. */
  maps: Float32Array[];
}

function inputShape(model: tf.LayersModel): [number, number, number] {
  return model.inputs[0]!.shape.slice(1) as [number, number, number];
}

function hasLayer(model: tf.LayersModel, name: string): boolean {
  return model.layers.some((l) => l.name === name);
}

/** The layer whose output is the penultimate representation (models.ts names them): ResNet's pooled features, the MLP's last hidden layer. */
function penultimateLayer(model: tf.LayersModel): tf.layers.Layer {
  if (hasLayer(model, 'pool')) return model.getLayer('pool');
  const hidden = model.layers.filter((l) => /^fc\d+$/.test(l.name));
  if (hidden.length === 0) throw new Error(`${model.name}: no penultimate layer (expected 'pool' or 'fc<i>')`);
  return hidden[hidden.length - 1]!;
}

/** Penultimate features [n, d] of n images (inference mode). */
export function penultimateFeatures(model: tf.LayersModel, images: Float32Array, n: number): { features: Float32Array; dim: number } {
  const [h, w, c] = inputShape(model);
  const layer = penultimateLayer(model);
  const sub = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
  const out = tf.tidy(() => sub.apply(tf.tensor4d(images, [n, h, w, c])) as tf.Tensor2D);
  const dim = out.shape[1];
  const features = out.dataSync() as Float32Array;
  out.dispose();
  return { features: Float32Array.from(features), dim };
}

function normalizeEach(maps: tf.Tensor3D): Float32Array[] {
  const [n, h, w] = maps.shape;
  const data = maps.dataSync();
  return Array.from({ length: n }, (_, i) => {
    const m = Float32Array.from(data.subarray(i * h * w, (i + 1) * h * w));
    let max = 0;
    for (const v of m) max = Math.max(max, v);
    if (max > 0) for (let j = 0; j < m.length; j++) m[j] = m[j]! / max;
    return m;
  });
}

/** Saliency of each image for its given class (its label: what the model should have seen). */
export function saliencyMaps(model: tf.LayersModel, images: Float32Array, classes: readonly number[]): SaliencyMaps {
  const [h, w, c] = inputShape(model);
  const n = classes.length;
  const numClasses = model.outputs[0]!.shape[1] as number;
  if (hasLayer(model, 'pool')) {
    const maps = tf.tidy(() => {
      const pool = model.getLayer('pool');
      const blocks = tf.model({ inputs: model.inputs, outputs: pool.input as tf.SymbolicTensor });
      const a = blocks.apply(tf.tensor4d(images, [n, h, w, c])) as tf.Tensor4D; // [n, h', w', k]
      const kernel = model.getLayer('classifier').getWeights()[0] as tf.Tensor2D; // [k, classes]
      const weights = tf.gather(kernel.transpose(), tf.tensor1d(classes as number[], 'int32')); // [n, k]
      const cam = tf.relu(tf.sum(tf.mul(a, weights.reshape([n, 1, 1, -1])), -1)); // [n, h', w']
      return tf.image.resizeBilinear(cam.expandDims(-1) as tf.Tensor4D, [h, w]).squeeze([-1]) as tf.Tensor3D;
    });
    const out = { kind: 'grad-cam' as const, height: h, width: w, maps: normalizeEach(maps) };
    maps.dispose();
    return out;
  }
  const maps = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, h, w, c]);
    const target = tf.oneHot(tf.tensor1d(classes as number[], 'int32'), numClasses);
    const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(model.apply(input) as tf.Tensor, target)))(x);
    return tf.max(tf.abs(grad), -1) as tf.Tensor3D;
  });
  const out = { kind: 'input-gradient' as const, height: h, width: w, maps: normalizeEach(maps) };
  maps.dispose();
  return out;
}
