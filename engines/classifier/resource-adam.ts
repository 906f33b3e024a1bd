import * as tf from '@tensorflow/tfjs';
import { tensorflowResources, type ResourceVariable, type TensorflowResources } from './tensorflow-ops';
import { checkAdamState, HostAdam } from './host-adam';
import type { StepOptimizer } from './step-optimizer';

interface Slot {
  /** Index into the optimizer's variables. */
  index: number;
  params: ResourceVariable;
  m: ResourceVariable;
  v: ResourceVariable;
}

/**
 * Variables at least this large get TensorFlow's kernel; smaller ones a JavaScript loop. The op
 * costs ~65 µs however small its variable, and packing small ones into one costs as much (each
 * tfjs reshape uploads a shape tensor), while reading, updating and re-uploading a 10k-element
 * variable on the host costs ~20 µs.
 */
const RESOURCE_UPDATE_SIZE = 65_536;

/**
 * Adam on the native TensorFlow backend (CPU or GPU). Large variables are updated by TensorFlow's
 * own fused kernel, ResourceApplyAdam, in place on resource variables that shadow the model's
 * (which then point at a snapshot: no copy through JavaScript); the small ones by HostAdam.
 * tfjs's AdamOptimizer issues ~13 ops per variable; HostAdam over all of the MLP's 250k
 * parameters costs ~2.5 ms a step with their upload; one ResourceApplyAdam per variable ~1.3 ms;
 * this ~0.65 ms.
 *
 * The update is PyTorch's (the paper's code), as HostAdam's: ResourceApplyAdam adds epsilon to
 * sqrt(v) before the bias correction, so it is given epsilon * sqrt(1 - beta2^t), which makes the
 * two formulas equal (see applyGradients for the bias corrections). State is saved in tfjs's AdamOptimizer layout ([iter, m_1..m_n, v_1..v_n]),
 * like HostAdam's, so a checkpoint resumes on any backend.
 */
export class ResourceAdam implements StepOptimizer {
  private readonly resources: TensorflowResources = tensorflowResources();
  private readonly slots: Slot[];
  private readonly small: number[];
  private readonly host: HostAdam;
  /** Each large variable's data when this optimizer last wrote it: anything else means another writer. */
  private readonly written = new Map<number, object>();
  private iterations = 0;

  constructor(
    private readonly variables: readonly tf.Variable[],
    public learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    const indices = variables.map((_, k) => k);
    this.small = indices.filter((k) => variables[k]!.size < RESOURCE_UPDATE_SIZE);
    this.host = new HostAdam(this.small.map((k) => variables[k]!), learningRate, beta1, beta2, epsilon);
    const zeros = (variable: tf.Variable) => {
      const z = tf.zerosLike(variable);
      try {
        return this.resources.variable(variable.shape, z);
      } finally {
        z.dispose();
      }
    };
    this.slots = indices.filter((k) => variables[k]!.size >= RESOURCE_UPDATE_SIZE).map((index) => {
      const variable = variables[index]!;
      return { index, params: this.resources.variable(variable.shape, variable), m: zeros(variable), v: zeros(variable) };
    });
  }

  setLearningRate(lr: number): void {
    this.learningRate = lr;
    this.host.setLearningRate(lr);
  }

  applyGradients(gradients: readonly tf.Tensor[]): void {
    if (gradients.length !== this.variables.length) throw new Error(`ResourceAdam: ${gradients.length} gradients for ${this.variables.length} variables`);
    // ResourceApplyAdam computes lr * sqrt(1 - beta2^t) / (1 - beta1^t) in float32 from float32
    // powers (1 - 0.999^t loses ~1e-5 of itself there); given powers 0 it uses lr as is, so the
    // bias corrections are folded in here, in float64, as HostAdam does.
    const t = this.iterations + 1;
    const sqrtBias2 = Math.sqrt(1 - this.beta2 ** t);
    const scalars = {
      beta1Power: 0, beta2Power: 0, beta1: this.beta1, beta2: this.beta2,
      lr: (this.learningRate * sqrtBias2) / (1 - this.beta1 ** t),
      epsilon: this.epsilon * sqrtBias2,
    };
    for (const slot of this.slots) {
      const variable = this.variables[slot.index]!;
      // setModelWeights (initial weights, a resumed checkpoint) writes the tfjs variable directly.
      if (this.written.get(slot.index) !== variable.dataId) slot.params.assign(variable);
      this.resources.applyAdam(slot.params, slot.m, slot.v, scalars, gradients[slot.index]!);
      const snapshot = slot.params.read();
      variable.assign(snapshot);
      snapshot.dispose();
      this.written.set(slot.index, variable.dataId);
    }
    if (this.small.length > 0) this.host.applyGradients(this.small.map((k) => gradients[k]!));
    this.iterations++;
  }

  getWeights(): { name: string; tensor: tf.Tensor }[] {
    const n = this.variables.length;
    const out: { name: string; tensor: tf.Tensor }[] = new Array(1 + 2 * n);
    const hostState = this.host.getWeights();
    tf.dispose(hostState[0]!.tensor);
    this.small.forEach((k, i) => {
      out[1 + k] = hostState[1 + i]!;
      out[1 + n + k] = hostState[1 + this.small.length + i]!;
    });
    for (const slot of this.slots) {
      const name = this.variables[slot.index]!.name;
      out[1 + slot.index] = { name: `${name}/m`, tensor: slot.m.read() };
      out[1 + n + slot.index] = { name: `${name}/v`, tensor: slot.v.read() };
    }
    out[0] = { name: 'iter', tensor: tf.scalar(this.iterations, 'int32') };
    return out;
  }

  setWeights(weights: readonly { name: string; tensor: tf.Tensor }[]): void {
    checkAdamState(weights, this.variables);
    const n = this.variables.length;
    this.host.setWeights([weights[0]!, ...this.small.map((k) => weights[1 + k]!), ...this.small.map((k) => weights[1 + n + k]!)]);
    for (const slot of this.slots) {
      const shape = this.variables[slot.index]!.shape;
      tf.tidy(() => {
        slot.m.assign(tf.reshape(weights[1 + slot.index]!.tensor, shape));
        slot.v.assign(tf.reshape(weights[1 + n + slot.index]!.tensor, shape));
      });
    }
    this.iterations = weights[0]!.tensor.dataSync()[0]!;
  }

  dispose(): void {
    for (const slot of this.slots) for (const r of [slot.params, slot.m, slot.v]) r.destroy();
  }
}
