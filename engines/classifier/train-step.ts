import * as tf from '@tensorflow/tfjs';
import { HostAdam } from './host-adam';
import { denseGraphStep, fitsDenseGraph } from './dense-graph-step';
import { denseStack, denseStackStep } from './dense-stack';
import { perSampleLoss, type LossName } from './losses';
import { nativeTrainingForward } from './native-training-forward';
import { ResourceAdam } from './resource-adam';
import type { OptimizerState, StepOptimizer } from './step-optimizer';

/** SGD whose learning rate can follow a step schedule. */
class ScheduledSgd implements StepOptimizer {
  private readonly sgd: tf.SGDOptimizer;
  constructor(private readonly variables: readonly tf.Variable[], lr: number) {
    this.sgd = new tf.SGDOptimizer(lr);
  }
  setLearningRate(lr: number): void {
    this.sgd.setLearningRate(lr);
  }
  applyGradients(gradients: readonly tf.Tensor[]): void {
    this.sgd.applyGradients(gradients.map((tensor, i) => ({ name: this.variables[i]!.name, tensor })));
  }
  getWeights(): { name: string; tensor: tf.Tensor }[] {
    return [{ name: 'iter', tensor: tf.scalar(this.sgd.iterations, 'int32') }];
  }
  setWeights(): void {
    // Plain SGD keeps no state that changes its updates.
  }
  dispose(): void {
    this.sgd.dispose();
  }
}

export interface TrainStepSettings {
  loss: LossName;
  gceQ: number;
  lr: number;
  optimizer: 'adam' | 'sgd';
}

/**
 * Which Adam a backend gets: TensorFlow's fused kernel on the native backends (resource-adam.ts),
 * a JavaScript loop over host memory on wasm and cpu (host-adam.ts). Both compute PyTorch's update.
 */
export function adamFor(backend: string): 'resource' | 'host' {
  return backend === 'tensorflow' || backend === 'tensorflow-gpu' ? 'resource' : 'host';
}

export interface TrainStep {
  optimizer: OptimizerState;
  /**
   * One optimizer step on a batch (NHWC float32, int32 labels). Returns the batch's summed loss as a
   * tensor, not a number: reading it would make the backend sync every step.
   */
  run(x: Float32Array, labels: Int32Array, size: number): tf.Scalar;
  /** Brings the model's variables up to date where the step trains a copy of them (before validation or a checkpoint). */
  syncModel(): void;
  dispose(): void;
}

/**
 * The step trainClassifier runs and `diffubias bench` measures: mean CE/GCE, gradients, update.
 * On the native CPU backend a dense stack (the MLP) trained with Adam runs as one TensorFlow graph
 * (dense-graph-step.ts); with SGD, or another depth, its backward pass runs on TensorFlow's own
 * ops one by one (dense-stack.ts). Other models go through tfjs's tape, on native with batch
 * normalisation and ReLU as TensorFlow's fused kernels (native-training-forward.ts).
 */
export async function createTrainStep(model: tf.LayersModel, settings: TrainStepSettings, backend: string): Promise<TrainStep> {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const dense = backend === 'tensorflow' ? denseStack(model) : undefined;
  if (dense && settings.optimizer === 'adam' && fitsDenseGraph(dense)
    && dense.flatMap((l) => [l.kernel, l.bias]).every((v, i) => v === variables[i])) {
    return denseGraphStep(dense, settings);
  }
  const Adam = adamFor(backend) === 'resource' ? ResourceAdam : HostAdam;
  const optimizer: StepOptimizer = settings.optimizer === 'adam'
    ? new Adam(variables, settings.lr, 0.9, 0.999, 1e-8)
    : new ScheduledSgd(variables, settings.lr);
  const [h, w, c] = model.inputs[0]!.shape.slice(1) as [number, number, number];
  if (dense) {
    const step = denseStackStep(dense);
    return {
      optimizer,
      run: (x, labels, size) => {
        const { sum, grads } = step.gradients(x, labels, size, settings.loss, settings.gceQ);
        const ordered = variables.map((v) => grads.get(v.name)!);
        optimizer.applyGradients(ordered);
        tf.dispose(ordered);
        return tf.scalar(sum);
      },
      syncModel: () => {},
      dispose: () => optimizer.dispose(),
    };
  }
  const forward = (backend.startsWith('tensorflow') ? nativeTrainingForward(model) : undefined)
    ?? ((xs: tf.Tensor) => model.apply(xs, { training: true }) as tf.Tensor);
  return {
    optimizer,
    run: (x, labels, size) => tf.tidy((): tf.Scalar => {
      const xs = tf.tensor4d(x, [size, h, w, c]);
      const ys = tf.tensor1d(labels, 'int32');
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(xs) as tf.Tensor2D;
        return tf.mean(perSampleLoss(settings.loss, logits, ys, settings.gceQ)) as tf.Scalar;
      }, variables);
      optimizer.applyGradients(variables.map((v) => grads[v.name]!));
      return tf.mul(value, size);
    }),
    syncModel: () => {},
    dispose: () => optimizer.dispose(),
  };
}
