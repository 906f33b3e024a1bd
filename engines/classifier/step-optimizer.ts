import type * as tf from '@tensorflow/tfjs';

/** What a training step needs of an optimizer: gradients in variable order, state in tfjs's layout. */
export interface StepOptimizer {
  setLearningRate(lr: number): void;
  applyGradients(gradients: readonly tf.Tensor[]): void;
  /** New tensors; the caller disposes them. */
  getWeights(): { name: string; tensor: tf.Tensor }[];
  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void;
  dispose(): void;
}
