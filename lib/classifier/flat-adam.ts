import * as tf from '@tensorflow/tfjs';
import type { StepOptimizer } from './train-step';

/**
 * Adam over all variables at once, on the device (a GPU: moments and parameters never leave it).
 * tfjs's AdamOptimizer issues about thirteen ops per variable per step (104 for the MLP, ~800 for
 * ResNet-18), each a round trip through N-API and TensorFlow's eager runtime; here the gradients
 * are concatenated once and the moments live in two flat tensors, so an update is a dozen ops plus
 * a split whatever the model. The update is PyTorch's form, as HostAdam's (the same numbers up to
 * float32 rounding), and the state uses tfjs's layout, so a checkpoint resumes on either.
 */
export class FlatAdam implements StepOptimizer {
  private m?: tf.Variable;
  private v?: tf.Variable;
  private iterations = 0;
  private readonly sizes: number[];

  constructor(
    private readonly variables: readonly tf.Variable[],
    public learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.sizes = variables.map((v) => v.size);
  }

  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }

  /** One update from gradients in the order of the variables given to the constructor. */
  applyGradients(gradients: readonly tf.Tensor[]): void {
    if (gradients.length !== this.variables.length) throw new Error(`FlatAdam: ${gradients.length} gradients for ${this.variables.length} variables`);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.m ??= tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.v ??= tf.tidy(() => tf.variable(tf.zeros([total]), false));
    const m = this.m;
    const v = this.v;
    const t = this.iterations + 1;
    const stepSize = this.learningRate / (1 - this.beta1 ** t);
    const invSqrtBias2 = 1 / Math.sqrt(1 - this.beta2 ** t);
    tf.tidy(() => {
      const g = tf.concat(gradients.map((x) => tf.reshape(x, [-1])));
      const newM = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
      const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
      m.assign(newM);
      v.assign(newV);
      const denom = tf.add(tf.mul(tf.sqrt(newV), invSqrtBias2), this.epsilon);
      const delta = tf.div(tf.mul(newM, -stepSize), denom);
      const parts = tf.split(delta, this.sizes);
      this.variables.forEach((variable, i) => variable.assign(tf.add(tf.reshape(parts[i]!, variable.shape), variable)));
    });
    this.iterations++;
  }

  /** tfjs AdamOptimizer's layout: iter, then the first moments, then the second, one per variable. */
  getWeights(): { name: string; tensor: tf.Tensor }[] {
    // New tensors: the caller disposes them.
    const unflatten = (flat: tf.Tensor | undefined, suffix: string) => {
      const parts = flat ? tf.split(flat, this.sizes) : this.sizes.map((n) => tf.zeros([n]));
      return parts.map((p, i) => ({ name: `${this.variables[i]!.name}/${suffix}`, tensor: tf.reshape(p, this.variables[i]!.shape) }));
    };
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...unflatten(this.m, 'm'), ...unflatten(this.v, 'v')];
  }

  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void {
    const n = this.variables.length;
    if (weights.length !== 1 + 2 * n) throw new Error(`optimizer state holds ${weights.length} tensors; Adam over ${n} variables needs ${1 + 2 * n}`);
    weights.slice(1).forEach((w, i) => {
      const expected = this.variables[i % n]!.size;
      if (w.tensor.size !== expected) throw new Error(`optimizer state ${w.name} has ${w.tensor.size} values, its variable ${expected}`);
    });
    this.iterations = weights[0]!.tensor.dataSync()[0]!;
    this.m?.dispose();
    this.v?.dispose();
    const flat = (ws: readonly { tensor: tf.Tensor }[]) => tf.tidy(() => tf.variable(tf.concat(ws.map((w) => tf.reshape(w.tensor, [-1]))), false));
    this.m = flat(weights.slice(1, 1 + n));
    this.v = flat(weights.slice(1 + n));
  }

  dispose(): void {
    this.m?.dispose();
    this.v?.dispose();
  }
}
