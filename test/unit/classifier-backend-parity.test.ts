import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../engines/classifier/backend';
import { HostAdam } from '../../engines/classifier/host-adam';
import { lossGradient, perSampleCrossEntropy, perSampleGce } from '../../engines/classifier/losses';
import { buildModel, type ModelSpec } from '../../engines/classifier/models';
import { batchPredictor } from '../../engines/classifier/predict';
import { ResourceAdam } from '../../engines/classifier/resource-adam';
import { createTrainStep } from '../../engines/classifier/train-step';
import { modelWeights, setModelWeights, type NamedArray } from '../../engines/classifier/weights';

/**
 * The native TensorFlow backend against tfjs's pure-JS cpu backend (the reference: plain float32
 * JavaScript) on the same weights and batch. Float sums run in a different order there (oneDNN /
 * Eigen blocking, threads), so agreement is to a tolerance, stated per check. Skipped where no
 * native backend was provisioned (DIFFUBIAS_NATIVE_TF=0, or a platform setup does not cover).
 */
let native = 'cpu';
beforeAll(async () => {
  native = await initBackend();
});
afterAll(async () => {
  await tf.setBackend(native);
});
/** Skips the calling test, saying why, when no native backend was provisioned. */
function needsNative(ctx: { skip: (note?: string) => void }): void {
  if (!native.startsWith('tensorflow')) ctx.skip(`no native TensorFlow backend (running on ${native})`);
}

function batch(spec: ModelSpec, n: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const size = n * spec.inputShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: size }, (_, i) => ((i * 7919 + seed * 104729) % 1000) / 1000);
  return { x, labels: Int32Array.from({ length: n }, (_, i) => (i * 3 + seed) % spec.numClasses) };
}

// SGD, not Adam: Adam's first step moves every weight by ~lr times the sign of its gradient, so a
// gradient that is ~0 on both backends can still flip a weight by 2 lr. SGD's step is linear in the
// gradient, so weight agreement measures gradient agreement. Adam is compared on its own below.
async function stepOn(backend: string, spec: ModelSpec, init: NamedArray[], data: { x: Float32Array; labels: Int32Array }, n: number) {
  await tf.setBackend(backend);
  const model = buildModel(spec);
  setModelWeights(model, init, 'initial weights');
  const step = await createTrainStep(model, { loss: 'gce', gceQ: 0.7, lr: 0.1, optimizer: 'sgd' }, backend);
  const loss = (await step.run(data.x, data.labels, n).data())[0]! / n;
  const weights = await modelWeights(model);
  step.dispose();
  model.dispose();
  return { loss, weights };
}

function maxAbsDiff(a: NamedArray[], b: NamedArray[]): number {
  let worst = 0;
  a.forEach((w, i) => w.data.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i]!.data[j]!)); }));
  return worst;
}

describe('native TensorFlow backend vs the cpu reference', () => {
  const cases: [string, ModelSpec, number][] = [
    ['MLP (Colored MNIST shape)', { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 3 }, 64],
    // 8 px keeps the JS reference's convolutions to seconds; the layers are ResNet-18's, stem to head.
    ['ResNet-18 (CIFAR stem)', { arch: 'resnet18', numClasses: 10, inputShape: [8, 8, 3], seed: 5, padding: 'symmetric' }, 4],
  ];
  for (const [name, spec, n] of cases) {
    it(`${name}: one GCE + SGD step gives the same loss (1e-4 relative) and weights (1e-5)`, async (ctx) => {
      needsNative(ctx);
      await tf.setBackend('cpu');
      const start = buildModel(spec);
      const init = await modelWeights(start);
      start.dispose();
      const data = batch(spec, n, 1);
      const ref = await stepOn('cpu', spec, init, data, n);
      const got = await stepOn(native, spec, init, data, n);
      expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-4);
      // Steps move weights by ~1e-3..1e-2 here (lr 0.1): 1e-5 is far below what a wrong gradient
      // or update would give. BatchNorm's moving statistics are in the list.
      expect(maxAbsDiff(got.weights, ref.weights)).toBeLessThan(1e-5);
      // And the step did move them: the comparison is not of two copies of the initial weights.
      expect(maxAbsDiff(got.weights, init)).toBeGreaterThan(1e-4);
    }, 120_000);
  }

  it('per-sample CE and GCE tables of the product\'s inference (onnxruntime for the MLP) agree with tfjs on cpu to 1e-5 (the losses top-K ranks by)', async () => {
    const spec: ModelSpec = { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 9 };
    const data = batch(spec, 256, 2);
    const labels = tf.tensor1d(data.labels, 'int32');
    const losses = async (logits: tf.Tensor2D) => ({ ce: await perSampleCrossEntropy(logits, labels).data(), gce: await perSampleGce(logits, labels, 0.7).data() });
    // Reference: tfjs's layers on the cpu backend (plain float32 JavaScript).
    await tf.setBackend('cpu');
    const model = buildModel(spec);
    const ref = await losses(model.apply(tf.tensor4d(data.x, [256, 28, 28, 3])) as tf.Tensor2D);
    const w = await modelWeights(model);
    model.dispose();
    // As scoreLosses and evaluate compute them (predictAll), on the backend the product picked.
    await tf.setBackend(native);
    const again = buildModel(spec);
    setModelWeights(again, w, 'initial weights');
    const predictor = await batchPredictor(again);
    const got = await losses(tf.tensor2d(await predictor.logits(data.x, 256), [256, 10]));
    await predictor.dispose();
    again.dispose();
    expect(predictor.engine).toBe('onnxruntime');
    for (const key of ['ce', 'gce'] as const) {
      const diffs = Array.from(ref[key], (v, i) => Math.abs(v - got[key][i]!));
      expect(Math.max(...diffs)).toBeLessThan(1e-5);
      // Not two copies of one constant: the losses spread over the batch.
      expect(Math.max(...got[key]) - Math.min(...got[key])).toBeGreaterThan(1e-3);
    }
  });
});

describe('Adam implementations', () => {
  /** tf.train.adam, HostAdam (cpu backend) and ResourceAdam (native) from the same start on the same gradients, 20 steps. */
  async function run(kind: 'tfjs' | 'host' | 'resource'): Promise<Float32Array[]> {
    await tf.setBackend(kind === 'resource' ? native : 'cpu');
    // [300, 250] is above RESOURCE_UPDATE_SIZE (TensorFlow's kernel on native), the others below (HostAdam).
    const shapes = [[300, 250], [30, 7], [7], [7, 3]];
    const vars = shapes.map((s, k) => tf.variable(tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + k)), s)));
    const grads = (t: number) => shapes.map((s, k) => tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i * 0.37 + k + t)), s));
    // A large epsilon, so that where it enters the formula (before or after the bias correction) shows.
    const tfjs = tf.train.adam(1e-2, 0.9, 0.999, 1e-3);
    const ours = kind === 'resource' ? new ResourceAdam(vars, 1e-2, 0.9, 0.999, 1e-3) : new HostAdam(vars, 1e-2, 0.9, 0.999, 1e-3);
    for (let t = 0; t < 20; t++) {
      const g = grads(t);
      if (kind === 'tfjs') tfjs.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: g[i]! })));
      else ours.applyGradients(g);
      tf.dispose(g);
    }
    const out = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
    ours.dispose();
    tf.dispose(vars);
    return out;
  }

  it('HostAdam follows tf.train.adam to 1e-6 over 20 steps (same formula, other float32 rounding)', async () => {
    const ref = await run('tfjs');
    const got = await run('host');
    const worst = Math.max(...ref.flatMap((r, i) => Array.from(r, (v, j) => Math.abs(v - got[i]![j]!))));
    expect(worst).toBeLessThan(1e-6);
  });

  // TensorFlow's kernel updates the moments as m += (g - m)(1 - beta1), not beta1 m + (1 - beta1) g:
  // the same formula in another float32 rounding, a few ulps per step on weights of order 1. A
  // misplaced epsilon or bias correction is off by ~1e-2 here.
  const RESOURCE_TOLERANCE = 5e-6;

  it('ResourceAdam (TensorFlow\'s fused kernel, epsilon rescaled) follows tf.train.adam to 5e-6 over 20 steps', async (ctx) => {
    needsNative(ctx);
    const ref = await run('tfjs');
    const got = await run('resource');
    const worst = Math.max(...ref.flatMap((r, i) => Array.from(r, (v, j) => Math.abs(v - got[i]![j]!))));
    expect(worst).toBeLessThan(RESOURCE_TOLERANCE);
  });

  it('ResourceAdam picks up weights written behind its back and never changes a tensor in place', async (ctx) => {
    needsNative(ctx);
    await tf.setBackend(native);
    const shape = [400, 200]; // large enough for TensorFlow's kernel
    const v = tf.variable(tf.fill(shape, 1));
    const adam = new ResourceAdam([v], 0.1);
    const g = tf.fill(shape, 0.5);
    adam.applyGradients([g]);
    const snapshot = tf.clone(v);
    const before = Array.from(await snapshot.data());
    adam.applyGradients([g]);
    expect(Array.from(await snapshot.data())).toEqual(before);
    // As setModelWeights does on resume: the next step starts from these values, not the old ones.
    v.assign(tf.fill(shape, 10));
    adam.applyGradients([tf.zeros(shape)]);
    const after = await v.data();
    expect(Math.max(...Array.from(after, (x) => Math.abs(x - 10)))).toBeLessThan(0.5);
    adam.dispose();
    tf.dispose([v, g, snapshot]);
  });

  it('state saved by one restores into the other (a run moving between a native and a wasm worker)', async (ctx) => {
    needsNative(ctx);
    const shapes = [[300, 250], [4]];
    const start = shapes.map((s, k) => Float32Array.from({ length: s[0]! * (s[1] ?? 1) }, (_, i) => Math.sin(i + k)));
    const grad = (t: number) => shapes.map((s, k) => tf.tensor(Float32Array.from({ length: s[0]! * (s[1] ?? 1) }, (_, i) => Math.cos(i * 0.1 + k + t)), s));
    await tf.setBackend('cpu');
    const v1 = shapes.map((s, k) => tf.variable(tf.tensor(start[k]!, s)));
    const host = new HostAdam(v1, 0.1);
    host.applyGradients(grad(0));
    const state = await Promise.all(host.getWeights().map(async (s) => ({ name: s.name, values: await s.tensor.data(), shape: s.tensor.shape, dtype: s.tensor.dtype })));
    expect(state.map((s) => s.name)).toEqual(['iter', `${v1[0]!.name}/m`, `${v1[1]!.name}/m`, `${v1[0]!.name}/v`, `${v1[1]!.name}/v`]);
    const after1 = await Promise.all(v1.map(async (v) => Array.from(await v.data())));
    host.applyGradients(grad(1));
    const a = await Promise.all(v1.map(async (v) => Array.from(await v.data())));

    await tf.setBackend(native);
    const v2 = shapes.map((s, k) => tf.variable(tf.tensor(after1[k]!, s)));
    const resource = new ResourceAdam(v2, 0.1);
    const restored = state.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, s.shape, s.dtype) }));
    resource.setWeights(restored);
    resource.applyGradients(grad(1));
    const b = await Promise.all(v2.map(async (v) => Array.from(await v.data())));
    a.forEach((w, k) => w.forEach((x, i) => expect(Math.abs(x - b[k]![i]!)).toBeLessThan(RESOURCE_TOLERANCE)));
    // And back: ResourceAdam's state in the same layout.
    expect(resource.getWeights().map((s) => s.name)).toEqual(['iter', `${v2[0]!.name}/m`, `${v2[1]!.name}/m`, `${v2[0]!.name}/v`, `${v2[1]!.name}/v`]);
    expect(() => resource.setWeights(restored.slice(0, 2))).toThrow(/needs 5/);
    resource.dispose();
  });
});

describe('host loss gradient (the dense stack\'s backward pass starts from it)', () => {
  it('matches the tape\'s gradient of mean CE and GCE with respect to the logits (1e-6)', async () => {
    await tf.setBackend('cpu');
    const n = 16;
    const classes = 10;
    const logits = Float32Array.from({ length: n * classes }, (_, i) => Math.sin(i * 1.7) * 4);
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
    for (const loss of ['ce', 'gce'] as const) {
      const z = tf.tensor2d(logits, [n, classes]);
      const y = tf.tensor1d(labels, 'int32');
      const f = (l: tf.Tensor) => tf.mean(loss === 'gce' ? perSampleGce(l as tf.Tensor2D, y, 0.7) : perSampleCrossEntropy(l as tf.Tensor2D, y));
      const ref = await tf.grad(f)(z).data();
      const refSum = (await f(z).data())[0]! * n;
      const host = lossGradient(loss, logits, labels, classes, 0.7);
      host.grad.forEach((g, i) => expect(Math.abs(g - ref[i]!), `${loss} ${i}`).toBeLessThan(1e-6));
      expect(Math.abs(host.sum - refSum) / refSum).toBeLessThan(1e-5);
      tf.dispose([z, y]);
    }
  });
});

describe('the native training step under a profiler', () => {
  // TensorFlow's eager MatMul corrupted the heap when the process took profiler signals (node
  // --cpu-prof aborted in malloc within a few hundred steps): the op-by-op dense stack now
  // multiplies with BatchMatMulV2, which does not. Adam's step is one graph, whose MatMuls run
  // inside a session: checked under the profiler as well.
  it('runs 300 MLP steps of each step kind under node --cpu-prof', (ctx) => {
    needsNative(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'profiled-training-'));
    const script = join(__dirname, '..', 'support', 'profiled-training.ts');
    const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-r', 'tsx/cjs', script], { encoding: 'utf8', timeout: 120_000 });
    expect({ status: run.status, signal: run.signal, out: run.stdout.trim() }).toEqual({ status: 0, signal: null, out: `ok ${native}` });
  }, 150_000);
});
