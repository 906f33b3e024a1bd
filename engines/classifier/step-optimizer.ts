import type * as tf from '@tensorflow/tfjs';

/** What the training loop needs of an optimizer: its learning rate, and state in tfjs's layout. */
export interface OptimizerState {
  setLearningRate(lr: number): void;
  /** New tensors; the caller disposes them. */
  getWeights(): { name: string; tensor: tf.Tensor }[];
  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void;
  dispose(): void;
}

/** An optimizer a training step hands gradients to, in variable order. */
export interface StepOptimizer extends OptimizerState {
  applyGradients(gradients: readonly tf.Tensor[]): void;
}
