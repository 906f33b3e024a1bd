import * as tf from '@tensorflow/tfjs';
import { tensorflowResources, type ResourceVariable, type TensorflowResources } from './tensorflow-ops';
import type { StepOptimizer } from './train-step';

interface Slot {
  variable: tf.Variable;
  /** The tfjs variable's data when this optimizer last wrote it: anything else means another writer. */
  written?: object;
  param: ResourceVariable;
  m: ResourceVariable;
  v: ResourceVariable;
}

/**
 * Adam on the native TensorFlow backend (CPU or GPU) with TensorFlow's own fused kernel,
 * ResourceApplyAdam: one op per variable, in place on resource variables that shadow the tfjs
 * ones, the model's variables then pointing at a snapshot of each (no copy through JavaScript).
 * tfjs's AdamOptimizer issues ~13 ops per variable; a JavaScript loop over the MLP's 250k
 * parameters plus their upload costs ~2.5 ms a step; this costs ~0.3 ms.
 *
 * The update is PyTorch's (the paper's code): ResourceApplyAdam adds epsilon to sqrt(v) before the
 * bias correction, so it is given epsilon * sqrt(1 - beta2^t), which makes the two formulas equal.
 * State is saved in tfjs's AdamOptimizer layout ([iter, m_1..m_n, v_1..v_n]), like HostAdam's, so a
 * checkpoint resumes on any backend.
 */
export class ResourceAdam implements StepOptimizer {
  private readonly resources: TensorflowResources = tensorflowResources();
  private readonly slots: Slot[];
  private iterations = 0;

  constructor(
    variables: readonly tf.Variable[],
    public learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    const zeros = (variable: tf.Variable): ResourceVariable => {
      const z = tf.zerosLike(variable);
      try {
        return this.resources.variable(variable.shape, z);
      } finally {
        z.dispose();
      }
    };
    this.slots = variables.map((variable) => ({
      variable, param: this.resources.variable(variable.shape, variable), m: zeros(variable), v: zeros(variable),
    }));
  }

  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }

  applyGradients(gradients: readonly tf.Tensor[]): void {
    if (gradients.length !== this.slots.length) throw new Error(`ResourceAdam: ${gradients.length} gradients for ${this.slots.length} variables`);
    const t = this.iterations + 1;
    const beta2Power = this.beta2 ** t;
    const scalars = {
      beta1Power: this.beta1 ** t, beta2Power, lr: this.learningRate, beta1: this.beta1, beta2: this.beta2,
      epsilon: this.epsilon * Math.sqrt(1 - beta2Power),
    };
    this.slots.forEach((slot, k) => {
      // setModelWeights (initial weights, a resumed checkpoint) writes the tfjs variable directly.
      if (slot.written !== slot.variable.dataId) slot.param.assign(slot.variable);
      this.resources.applyAdam(slot.param, slot.m, slot.v, scalars, gradients[k]!);
      const value = slot.param.read();
      slot.variable.assign(value);
      value.dispose();
      slot.written = slot.variable.dataId;
    });
    this.iterations++;
  }

  getWeights(): { name: string; tensor: tf.Tensor }[] {
    const of = (key: 'm' | 'v') => this.slots.map((slot) => ({ name: `${slot.variable.name}/${key}`, tensor: slot[key].read() }));
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...of('m'), ...of('v')];
  }

  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void {
    const n = this.slots.length;
    if (weights.length !== 1 + 2 * n) throw new Error(`optimizer state holds ${weights.length} tensors; Adam over ${n} variables needs ${1 + 2 * n}`);
    weights.slice(1).forEach((w, i) => {
      const slot = this.slots[i % n]!;
      if (w.tensor.size !== slot.variable.size) throw new Error(`optimizer state ${w.name} has ${w.tensor.size} values, its variable ${slot.variable.size}`);
      tf.tidy(() => (i < n ? slot.m : slot.v).assign(tf.reshape(w.tensor, slot.variable.shape)));
    });
    this.iterations = weights[0]!.tensor.dataSync()[0]!;
  }

  dispose(): void {
    for (const slot of this.slots) for (const r of [slot.param, slot.m, slot.v]) r.destroy();
  }
}
