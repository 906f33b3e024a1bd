import * as tf from '@tensorflow/tfjs';
import type { InputNorm } from './batch-source';

export type Architecture = 'mlp' | 'mlp-16' | 'resnet18';
/** `torch`: what the peers' PyTorch models start from; `glorot`: Keras' defaults. */
export type InitScheme = 'torch' | 'glorot';

export interface ModelSpec {
  arch: Architecture;
  numClasses: number;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  seed: number;
  /** Absent = `glorot` (model files written before the choice existed). */
  init?: InitScheme;
  /** Per-channel normalisation of its inputs (ImageNet's for pretrained weights); absent = [0, 1] pixels as they are. */
  inputNorm?: InputNorm;
  /**
   * How strided convolutions and the stem's max-pool pad (ResNet-18): `symmetric` = PyTorch's
   * (k / 2 on every side), so torchvision weights compute the same logits here; absent = TensorFlow's
   * `same` (one pixel more on the bottom and right for stride 2), what model files before it used.
   */
  padding?: 'symmetric';
}

type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * Seeded initializers, one distinct seed per tensor, so the same seed builds the same network.
 * `torch` follows PyTorch: nn.Linear draws weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (kaiming_uniform with a = sqrt(5)); torchvision's ResNet draws convolutions from
 * N(0, 2 / fan_out) (kaiming_normal, mode fan_out) with batch norm at 1 and 0. `glorot` is Keras':
 * Glorot-uniform dense kernels, truncated He-normal convolutions, zero biases.
 */
class SeededInit {
  private n = 0;
  constructor(private readonly seed: number, private readonly scheme: InitScheme) {}
  private next(): number {
    return this.seed * 1000 + this.n++;
  }
  conv(filters: number, kernel: number): Initializer {
    if (this.scheme === 'glorot') return tf.initializers.heNormal({ seed: this.next() });
    return tf.initializers.randomNormal({ mean: 0, stddev: Math.sqrt(2 / (filters * kernel * kernel)), seed: this.next() });
  }
  /** Kernel and bias initializers of a dense layer with `fanIn` inputs. */
  dense(fanIn: number): { kernelInitializer: Initializer; biasInitializer: Initializer } {
    if (this.scheme === 'glorot') return { kernelInitializer: tf.initializers.glorotUniform({ seed: this.next() }), biasInitializer: tf.initializers.zeros() };
    const bound = 1 / Math.sqrt(fanIn);
    return {
      kernelInitializer: tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: this.next() }),
      biasInitializer: tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: this.next() }),
    };
  }
}

/** Hidden widths of the MLPs: LfF's 3 x 100 (`mlp`), and DisEnt's and BiasEnsemble's 100-100-16 (`mlp-16`). */
const MLP_HIDDEN: Readonly<Record<'mlp' | 'mlp-16', readonly number[]>> = { mlp: [100, 100, 100], 'mlp-16': [100, 100, 16] };

/** A ReLU MLP over the flattened image, for Colored MNIST (MLP_HIDDEN). */
function mlp(spec: ModelSpec, hidden: readonly number[]): tf.LayersModel {
  const init = new SeededInit(spec.seed, spec.init ?? 'glorot');
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  let x = tf.layers.flatten({ name: 'flatten' }).apply(input) as tf.SymbolicTensor;
  let fanIn = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
  hidden.forEach((units, i) => {
    x = tf.layers.dense({ units, activation: 'relu', ...init.dense(fanIn), name: `fc${i + 1}` }).apply(x) as tf.SymbolicTensor;
    fanIn = units;
  });
  const logits = tf.layers.dense({ units: spec.numClasses, ...init.dense(fanIn), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'mlp' });
}

/** Zero padding of `p` pixels on every side: PyTorch's padding for a strided layer. */
function padded(x: tf.SymbolicTensor, p: number, name: string): tf.SymbolicTensor {
  return tf.layers.zeroPadding2d({ padding: [[p, p], [p, p]], name }).apply(x) as tf.SymbolicTensor;
}

function convBn(x: tf.SymbolicTensor, init: SeededInit, filters: number, kernel: number, stride: number, name: string, symmetric: boolean): tf.SymbolicTensor {
  // Stride 1 'same' pads k / 2 on each side, as PyTorch does; stride 2 'same' would pad one pixel less on the top and left.
  const explicit = symmetric && stride > 1 && kernel > 1;
  const input = explicit ? padded(x, Math.floor(kernel / 2), `${name}_pad`) : x;
  const conv = tf.layers.conv2d({
    filters, kernelSize: kernel, strides: stride, padding: explicit ? 'valid' : 'same', useBias: false, kernelInitializer: init.conv(filters, kernel), name: `${name}_conv`,
  }).apply(input) as tf.SymbolicTensor;
  return tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` }).apply(conv) as tf.SymbolicTensor;
}

function basicBlock(x: tf.SymbolicTensor, init: SeededInit, filters: number, stride: number, name: string, symmetric: boolean): tf.SymbolicTensor {
  let y = convBn(x, init, filters, 3, stride, `${name}_a`, symmetric);
  y = tf.layers.reLU({ name: `${name}_a_relu` }).apply(y) as tf.SymbolicTensor;
  y = convBn(y, init, filters, 3, 1, `${name}_b`, symmetric);
  const inChannels = x.shape[x.shape.length - 1];
  const shortcut = stride !== 1 || inChannels !== filters ? convBn(x, init, filters, 1, stride, `${name}_down`, symmetric) : x;
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}_relu` }).apply(sum) as tf.SymbolicTensor;
}

/**
 * ResNet-18 (He et al. 2016). Small inputs (CIFAR, 32 px) get the 3x3 stem without max-pooling;
 * large ones (224/256 px) the ImageNet stem (7x7 stride 2, 3x3 max-pool stride 2).
 */
function resnet18(spec: ModelSpec): tf.LayersModel {
  const init = new SeededInit(spec.seed, spec.init ?? 'glorot');
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  const small = spec.inputShape[0] <= 64;
  const symmetric = spec.padding === 'symmetric';
  let x = convBn(input, init, 64, small ? 3 : 7, small ? 1 : 2, 'stem', symmetric);
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as tf.SymbolicTensor;
  if (!small) {
    // After the ReLU every value is >= 0, so zero padding is PyTorch's -inf padding for a max-pool.
    const pooled = symmetric ? padded(x, 1, 'stem_pool_pad') : x;
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: symmetric ? 'valid' : 'same', name: 'stem_pool' }).apply(pooled) as tf.SymbolicTensor;
  }
  const stages: [number, number][] = [[64, 1], [128, 2], [256, 2], [512, 2]];
  stages.forEach(([filters, stride], s) => {
    x = basicBlock(x, init, filters, stride, `layer${s + 1}_0`, symmetric);
    x = basicBlock(x, init, filters, 1, `layer${s + 1}_1`, symmetric);
  });
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: spec.numClasses, ...init.dense(512), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'resnet18' });
}

export function buildModel(spec: ModelSpec): tf.LayersModel {
  return spec.arch === 'resnet18' ? resnet18(spec) : mlp(spec, MLP_HIDDEN[spec.arch]);
}
