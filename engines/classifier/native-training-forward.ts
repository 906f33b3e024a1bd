import * as tf from '@tensorflow/tfjs';
import { tensorflowOps, type TensorflowOps } from './tensorflow-ops';

type Layer = tf.layers.Layer;

/**
 * BatchNormalization in training mode as TensorFlow's fused kernels, forward and backward.
 * tfjs-layers computes it as moments + batchNorm, whose gradient is ~25 elementwise ops over the
 * whole activation (for ResNet-18 at 32 px, batch 64: a quarter to four million floats each);
 * FusedBatchNormV3 / FusedBatchNormGradV3 are one pass each. The moving statistics follow
 * tfjs-layers exactly (same momentum update, biased batch variance), so a model trained here
 * evaluates and checkpoints like one trained through the layers' own call.
 */
function batchNormLayer(ops: TensorflowOps, layer: Layer): ((x: tf.Tensor) => tf.Tensor) | undefined {
  const config = layer.getConfig() as { axis?: number; momentum?: number; epsilon?: number; center?: boolean; scale?: boolean };
  const weight = (suffix: string) => layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`));
  const [gamma, beta, movingMean, movingVariance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map(weight);
  if (!config.center || !config.scale || !gamma || !beta || !movingMean || !movingVariance) return undefined;
  if (config.axis !== -1 && config.axis !== 3) return undefined;
  const epsilon = config.epsilon!;
  const decay = 1 - config.momentum!;
  const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, scale, offset, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const out = ops.fusedBatchNorm(x as tf.Tensor4D, scale as tf.Tensor1D, offset as tf.Tensor1D, epsilon);
    const n = x.size / x.shape[3]!;
    const moving = (variable: typeof movingMean, value: tf.Tensor) => {
      const current = variable.read();
      variable.write(tf.sub(current, tf.mul(tf.sub(current, value), decay)));
    };
    moving(movingMean, out.mean);
    // TensorFlow hands out the Bessel-corrected variance; tfjs-layers averages the biased one.
    moving(movingVariance, tf.mul(out.variance, (n - 1) / n));
    save([x, scale, ...out.reserve]);
    return {
      value: out.y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sScale, ...reserve] = saved;
        const g = ops.fusedBatchNormGrad(dy as tf.Tensor4D, sx as tf.Tensor4D, sScale as tf.Tensor1D, reserve, epsilon);
        return [g.dx, g.dScale, g.dOffset];
      },
    };
  });
  return (x) => (x.rank === 4 ? normalize(x, gamma.read(), beta.read()) : (layer.apply(x, { training: true }) as tf.Tensor));
}

/** ReLU with TensorFlow's ReluGrad: tfjs differentiates relu as Step (five ops) times dy. */
function reluOp(ops: TensorflowOps): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = ops.relu(x);
    save([y]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => ops.reluGrad(dy, saved[0]!) };
  });
}

/**
 * A functional model's forward pass in training mode for the native TensorFlow backend: layers run
 * in the model's own (topological) order, each through its own `apply`, except BatchNormalization
 * and ReLU, which run as TensorFlow's fused kernels above. Gradients still come from tfjs's tape.
 * Undefined for a model whose graph is not a plain single-input, single-output DAG (those train
 * through `model.apply`).
 */
export function nativeTrainingForward(model: tf.LayersModel): ((x: tf.Tensor) => tf.Tensor) | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const ops = tensorflowOps();
  const relu = reluOp(ops);
  const plan: { layer: Layer; inputs: Layer[]; run: (inputs: tf.Tensor[]) => tf.Tensor }[] = [];
  for (const layer of model.layers) {
    if (layer.inboundNodes.length !== 1) return undefined;
    const inputs = layer.inboundNodes[0]!.inboundLayers;
    const kind = layer.getClassName();
    if (kind === 'InputLayer') continue;
    const generic = (xs: tf.Tensor[]) => layer.apply(xs.length === 1 ? xs[0]! : xs, { training: true }) as tf.Tensor;
    let run = generic;
    if (kind === 'BatchNormalization') {
      const bn = batchNormLayer(ops, layer);
      if (bn) run = (xs) => bn(xs[0]!);
    } else if (kind === 'ReLU' && (layer.getConfig() as { maxValue?: number | null }).maxValue == null) {
      run = (xs) => relu(xs[0]!);
    }
    plan.push({ layer, inputs, run });
  }
  const inputLayer = model.inputLayers[0]!;
  const outputLayer = model.outputLayers[0]!;
  return (x) => {
    const values = new Map<Layer, tf.Tensor>([[inputLayer, x]]);
    for (const { layer, inputs, run } of plan) {
      const xs = inputs.map((l) => values.get(l));
      if (xs.some((v) => v === undefined)) throw new Error(`layer ${layer.name}: an input was not computed before it`);
      values.set(layer, run(xs as tf.Tensor[]));
    }
    return values.get(outputLayer)!;
  };
}
