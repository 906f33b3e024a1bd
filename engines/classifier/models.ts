import * as tf from '@tensorflow/tfjs';

export type Architecture = 'mlp' | 'resnet18';

export interface ModelSpec {
  arch: Architecture;
  numClasses: number;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  seed: number;
}

/** Seeded initializers, one distinct seed per layer, so the same seed builds the same network. */
class SeededInit {
  private n = 0;
  constructor(private readonly seed: number) {}
  he() {
    return tf.initializers.heNormal({ seed: this.seed * 1000 + this.n++ });
  }
  glorot() {
    return tf.initializers.glorotUniform({ seed: this.seed * 1000 + this.n++ });
  }
}

/** The 3 x 100 MLP of LfF for Colored MNIST. */
function mlp(spec: ModelSpec): tf.LayersModel {
  const init = new SeededInit(spec.seed);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  let x = tf.layers.flatten({ name: 'flatten' }).apply(input) as tf.SymbolicTensor;
  for (let i = 1; i <= 3; i++) {
    x = tf.layers.dense({ units: 100, activation: 'relu', kernelInitializer: init.glorot(), name: `fc${i}` }).apply(x) as tf.SymbolicTensor;
  }
  const logits = tf.layers.dense({ units: spec.numClasses, kernelInitializer: init.glorot(), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'mlp' });
}

function convBn(x: tf.SymbolicTensor, init: SeededInit, filters: number, kernel: number, stride: number, name: string): tf.SymbolicTensor {
  const conv = tf.layers.conv2d({
    filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: false, kernelInitializer: init.he(), name: `${name}_conv`,
  }).apply(x) as tf.SymbolicTensor;
  return tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${name}_bn` }).apply(conv) as tf.SymbolicTensor;
}

function basicBlock(x: tf.SymbolicTensor, init: SeededInit, filters: number, stride: number, name: string): tf.SymbolicTensor {
  let y = convBn(x, init, filters, 3, stride, `${name}_a`);
  y = tf.layers.reLU({ name: `${name}_a_relu` }).apply(y) as tf.SymbolicTensor;
  y = convBn(y, init, filters, 3, 1, `${name}_b`);
  const inChannels = x.shape[x.shape.length - 1];
  const shortcut = stride !== 1 || inChannels !== filters ? convBn(x, init, filters, 1, stride, `${name}_down`) : x;
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}_relu` }).apply(sum) as tf.SymbolicTensor;
}

/**
 * ResNet-18 (He et al. 2016). Small inputs (CIFAR, 32 px) get the 3x3 stem without max-pooling;
 * large ones (224/256 px) the ImageNet stem (7x7 stride 2, 3x3 max-pool stride 2).
 */
function resnet18(spec: ModelSpec): tf.LayersModel {
  const init = new SeededInit(spec.seed);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  const small = spec.inputShape[0] <= 64;
  let x = convBn(input, init, 64, small ? 3 : 7, small ? 1 : 2, 'stem');
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as tf.SymbolicTensor;
  if (!small) x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem_pool' }).apply(x) as tf.SymbolicTensor;
  const stages: [number, number][] = [[64, 1], [128, 2], [256, 2], [512, 2]];
  stages.forEach(([filters, stride], s) => {
    x = basicBlock(x, init, filters, stride, `layer${s + 1}_0`);
    x = basicBlock(x, init, filters, 1, `layer${s + 1}_1`);
  });
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: spec.numClasses, kernelInitializer: init.glorot(), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'resnet18' });
}

export function buildModel(spec: ModelSpec): tf.LayersModel {
  return spec.arch === 'mlp' ? mlp(spec) : resnet18(spec);
}
