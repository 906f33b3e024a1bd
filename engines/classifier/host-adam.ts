import * as tf from '@tensorflow/tfjs';
import type { StepOptimizer } from './step-optimizer';

/**
 * The inner loop, monomorphic over Float32Arrays. PyTorch's form of the update (bias corrections
 * folded into a step size and a denominator scale: one sqrt and one division per element, the
 * formula of the paper's PyTorch code), each element computed in float64 and stored as float32.
 */
function adamUpdate(
  params: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, off: number, n: number,
  b1: number, b2: number, stepSize: number, invSqrtBias2: number, eps: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let j = 0; j < n; j++) {
    const i = off + j;
    const gj = g[j]!;
    const mi = b1 * m[i]! + c1 * gj;
    const vi = b2 * v[i]! + c2 * gj * gj;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBias2 + eps);
  }
}

/**
 * Checks optimizer state in tfjs's AdamOptimizer layout ([iter, m_1..m_n, v_1..v_n]) against the
 * variables it is for, naming the tensor that does not fit. Shared by HostAdam and ResourceAdam.
 */
export function checkAdamState(weights: readonly { name: string; tensor: tf.Tensor }[], variables: readonly tf.Variable[]): void {
  const n = variables.length;
  if (weights.length !== 1 + 2 * n) throw new Error(`optimizer state holds ${weights.length} tensors; Adam over ${n} variables needs ${1 + 2 * n}`);
  weights.slice(1).forEach((w, i) => {
    const size = variables[i % n]!.size;
    if (w.tensor.size !== size) throw new Error(`optimizer state ${w.name} has ${w.tensor.size} values, its variable ${size}`);
  });
}

/**
 * Adam computed in JavaScript over Float32Arrays: the optimizer of the wasm and cpu backends, and
 * ResourceAdam's for small variables on native TensorFlow (where an op costs more than the loop).
 * It reads the gradients once, updates in place and writes each variable once. State is saved in
 * tfjs's AdamOptimizer layout ([iter, m_1..m_n, v_1..v_n]), like ResourceAdam's, so a checkpoint
 * resumes on either (a run may move between a wasm and a native worker).
 */
export class HostAdam implements StepOptimizer {
  private readonly sizes: number[];
  private readonly offsets: number[];
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly params: Float32Array;
  private iterations = 0;

  constructor(
    private readonly variables: readonly tf.Variable[],
    public learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.sizes = variables.map((v) => v.size);
    this.offsets = this.sizes.map((_, i) => this.sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.m = new Float32Array(total);
    this.v = new Float32Array(total);
    this.params = new Float32Array(total);
  }

  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }

  applyGradients(gradients: readonly tf.Tensor[]): void {
    if (gradients.length !== this.variables.length) throw new Error(`HostAdam: ${gradients.length} gradients for ${this.variables.length} variables`);
    const t = this.iterations + 1;
    const stepSize = this.learningRate / (1 - this.beta1 ** t);
    const invSqrtBias2 = 1 / Math.sqrt(1 - this.beta2 ** t);
    const { m, v, params } = this;
    this.variables.forEach((variable, k) => {
      const off = this.offsets[k]!;
      const n = this.sizes[k]!;
      // The variable's current values (another writer, e.g. setModelWeights, may have changed them).
      params.set(variable.dataSync() as Float32Array, off);
      const g = gradients[k]!.dataSync() as Float32Array;
      adamUpdate(params, m, v, g, off, n, this.beta1, this.beta2, stepSize, invSqrtBias2, this.epsilon);
      // A copy: the cpu backend keeps the array it is given, which the next step would overwrite.
      tf.tidy(() => variable.assign(tf.tensor(params.slice(off, off + n), variable.shape, 'float32')));
    });
    this.iterations++;
  }

  getWeights(): { name: string; tensor: tf.Tensor }[] {
    const unflatten = (flat: Float32Array, suffix: string) => this.variables.map((variable, k) => ({
      name: `${variable.name}/${suffix}`,
      tensor: tf.tensor(flat.slice(this.offsets[k]!, this.offsets[k]! + this.sizes[k]!), variable.shape, 'float32'),
    }));
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...unflatten(this.m, 'm'), ...unflatten(this.v, 'v')];
  }

  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void {
    checkAdamState(weights, this.variables);
    const n = this.variables.length;
    weights.slice(1).forEach((w, i) => {
      (i < n ? this.m : this.v).set(w.tensor.dataSync() as Float32Array, this.offsets[i % n]!);
    });
    this.iterations = weights[0]!.tensor.dataSync()[0]!;
  }

  dispose(): void {}
}
