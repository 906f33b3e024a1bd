import * as tf from '@tensorflow/tfjs';
import { lossGradient, type LossName } from './losses';
import { tensorflowOps, type TensorflowOps } from './tensorflow-ops';

export interface DenseLayer {
  kernel: tf.Variable;
  bias: tf.Variable;
  relu: boolean;
}

/**
 * A model that is input → flatten → dense (relu) … → dense (linear), such as the LfF MLP, as its
 * layers' variables; undefined for anything else (those train through tfjs's tape).
 */
export function denseStack(model: tf.LayersModel): DenseLayer[] | undefined {
  const layers: DenseLayer[] = [];
  let previous: tf.layers.Layer | undefined;
  for (const layer of model.layers) {
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (previous !== undefined && (inbound.length !== 1 || inbound[0] !== previous)) return undefined;
    previous = layer;
    const kind = layer.getClassName();
    if (kind === 'InputLayer' || kind === 'Flatten') {
      if (layers.length > 0) return undefined;
      continue;
    }
    if (kind !== 'Dense') return undefined;
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    if (!config.useBias || (config.activation !== 'relu' && config.activation !== 'linear')) return undefined;
    const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    if (kernel === undefined || bias === undefined) return undefined;
    layers.push({ kernel, bias, relu: config.activation === 'relu' });
  }
  return layers.length > 0 && !layers[layers.length - 1]!.relu ? layers : undefined;
}

/** Each layer's output, the input first and the logits last. */
function forward(ops: TensorflowOps, layers: readonly DenseLayer[], input: tf.Tensor2D): tf.Tensor2D[] {
  const outputs = [input];
  for (const layer of layers) {
    const z = ops.biasAdd(ops.matMul(outputs[outputs.length - 1]!, layer.kernel as tf.Tensor2D), layer.bias as tf.Tensor1D);
    outputs.push(layer.relu ? ops.relu(z) : z);
  }
  return outputs;
}

export interface DenseStackStep {
  /**
   * Summed loss of a batch and the gradient of its mean for every variable, keyed by the
   * variable's name: forward with MatMul/BiasAdd/Relu, the loss and its logit gradient on the
   * host (a 10-wide read), backward with MatMul/BiasAddGrad/ReluGrad. About a fifth of the ops
   * tfjs's tape issues for the same network.
   */
  gradients(x: Float32Array, labels: Int32Array, size: number, loss: LossName, gceQ: number): { sum: number; grads: Map<string, tf.Tensor> };
}

/** Training passes of a dense stack on the native TensorFlow backend's own ops (inference: dense-onnx.ts). */
export function denseStackStep(layers: readonly DenseLayer[]): DenseStackStep {
  const ops = tensorflowOps();
  const features = layers[0]!.kernel.shape[0]!;
  const classes = layers[layers.length - 1]!.kernel.shape[1]!;
  return {
    gradients: (x, labels, size, loss, gceQ) => {
      const grads = new Map<string, tf.Tensor>();
      let sum = 0;
      tf.tidy(() => {
        const outputs = forward(ops, layers, tf.tensor2d(x, [size, features]));
        const logits = outputs[outputs.length - 1]!;
        const host = lossGradient(loss, logits.dataSync() as Float32Array, labels.subarray(0, size), classes, gceQ);
        sum = host.sum;
        let dz = tf.tensor2d(host.grad, [size, classes]);
        for (let i = layers.length - 1; i >= 0; i--) {
          const layer = layers[i]!;
          grads.set(layer.kernel.name, tf.keep(ops.matMul(outputs[i]!, dz, true, false)));
          grads.set(layer.bias.name, tf.keep(ops.biasAddGrad(dz)));
          if (i === 0) break;
          const dInput = ops.matMul(dz, layer.kernel as tf.Tensor2D, false, true);
          dz = layers[i - 1]!.relu ? ops.reluGrad(dInput, outputs[i]!) : dInput;
        }
      });
      return { sum, grads };
    },
  };
}
