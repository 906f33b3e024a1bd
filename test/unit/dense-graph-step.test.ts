import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../engines/classifier/backend';
import { DENSE_TRAIN_GRAPH, denseGraphStep } from '../../engines/classifier/dense-graph-step';
import { denseStack, denseStackStep } from '../../engines/classifier/dense-stack';
import type { LossName } from '../../engines/classifier/losses';
import { buildModel, type ModelSpec } from '../../engines/classifier/models';
import { ResourceAdam } from '../../engines/classifier/resource-adam';
import { createTrainStep } from '../../engines/classifier/train-step';
import { modelWeights, setModelWeights, toTensor, type NamedArray } from '../../engines/classifier/weights';

/**
 * The MLP's one-graph Adam step against the same step issued op by op on the same backend
 * (dense-stack.ts's gradients + ResourceAdam): the arithmetic the graph must reproduce. Skipped
 * where no native CPU backend was provisioned.
 */
let backend = 'cpu';
beforeAll(async () => {
  backend = await initBackend();
});
function needsNativeCpu(ctx: { skip: (note?: string) => void }): void {
  if (backend !== 'tensorflow') ctx.skip(`the graph step runs on the native CPU backend (running on ${backend})`);
}

const FEATURES = 28 * 28 * 3;
/** Batches of varied size (the last one short, as an epoch's last batch is). */
function batches(count: number, seed: number): { x: Float32Array; labels: Int32Array; size: number }[] {
  return Array.from({ length: count }, (_, b) => {
    const size = b === count - 1 ? 37 : 64;
    const x = Float32Array.from({ length: size * FEATURES }, (_, i) => ((i * 7919 + (b + seed) * 104729) % 1000) / 1000);
    return { x, labels: Int32Array.from({ length: size }, (_, i) => (i * 3 + b + seed) % 10), size };
  });
}

async function start(spec: ModelSpec): Promise<NamedArray[]> {
  const model = buildModel(spec);
  const w = await modelWeights(model);
  model.dispose();
  return w;
}

// A large epsilon and lr, so that a misplaced epsilon or bias correction shows (both are ~1e-2 off
// then); 1e-4 stays above the float32 reordering of two TensorFlow executions of one formula.
const LR = 1e-2;
const EPS = 1e-3;
const TOLERANCE = 1e-4;

async function opByOp(spec: ModelSpec, init: NamedArray[], data: ReturnType<typeof batches>, loss: LossName) {
  const model = buildModel(spec);
  setModelWeights(model, init, 'initial weights');
  const dense = denseStack(model)!;
  const variables = dense.flatMap((l) => [l.kernel, l.bias]);
  const adam = new ResourceAdam(variables, LR, 0.9, 0.999, EPS);
  const step = denseStackStep(dense);
  const sums: number[] = [];
  for (const b of data) {
    const { sum, grads } = step.gradients(b.x, b.labels, b.size, loss, 0.7);
    const ordered = variables.map((v) => grads.get(v.name)!);
    adam.applyGradients(ordered);
    tf.dispose(ordered);
    sums.push(sum);
  }
  const weights = await modelWeights(model);
  adam.dispose();
  model.dispose();
  return { weights, sums };
}

async function graph(spec: ModelSpec, init: NamedArray[], data: ReturnType<typeof batches>, loss: LossName) {
  const model = buildModel(spec);
  setModelWeights(model, init, 'initial weights');
  const step = await denseGraphStep(denseStack(model)!, { loss, gceQ: 0.7, lr: LR }, 0.9, 0.999, EPS);
  const sums: number[] = [];
  for (const b of data) {
    const s = step.run(b.x, b.labels, b.size);
    sums.push((await s.data())[0]!);
    s.dispose();
  }
  step.syncModel();
  const weights = await modelWeights(model);
  step.dispose();
  model.dispose();
  return { weights, sums };
}

function maxAbsDiff(a: readonly NamedArray[], b: readonly NamedArray[]): number {
  let worst = 0;
  a.forEach((w, i) => w.data.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i]!.data[j]!)); }));
  return worst;
}

describe('the MLP\'s training step as one TensorFlow graph', () => {
  const cases: [LossName, ModelSpec][] = [
    ['gce', { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 3 }],
    ['ce', { arch: 'mlp-16', numClasses: 10, inputShape: [28, 28, 3], seed: 4 }],
  ];
  for (const [loss, spec] of cases) {
    it(`${spec.arch}, ${loss.toUpperCase()} + Adam, 12 steps: the same losses (1e-4 relative) and weights (1e-4) as the op-by-op step`, async (ctx) => {
      needsNativeCpu(ctx);
      const init = await start(spec);
      const data = batches(12, 1);
      const ref = await opByOp(spec, init, data, loss);
      const got = await graph(spec, init, data, loss);
      got.sums.forEach((s, i) => expect(Math.abs(s - ref.sums[i]!) / Math.abs(ref.sums[i]!)).toBeLessThan(1e-4));
      expect(maxAbsDiff(got.weights, ref.weights)).toBeLessThan(TOLERANCE);
      // The steps moved the weights far beyond the tolerance: not two copies of the start.
      expect(maxAbsDiff(got.weights, init)).toBeGreaterThan(100 * TOLERANCE);
    }, 120_000);
  }

  it('resumes from a checkpoint (weights + Adam state) exactly where an uninterrupted run is, and picks up weights written into the model', async (ctx) => {
    needsNativeCpu(ctx);
    const spec: ModelSpec = { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 5 };
    const init = await start(spec);
    const data = batches(10, 2);
    const whole = await graph(spec, init, data, 'gce');

    // The first five steps, then a checkpoint as trainClassifier stores one.
    const model = buildModel(spec);
    setModelWeights(model, init, 'initial weights');
    let step = await denseGraphStep(denseStack(model)!, { loss: 'gce', gceQ: 0.7, lr: LR }, 0.9, 0.999, EPS);
    for (const b of data.slice(0, 5)) step.run(b.x, b.labels, b.size).dispose();
    step.syncModel();
    const weights = await modelWeights(model);
    const state = step.optimizer.getWeights();
    const optimizer = await Promise.all(state.map(async (s) => ({ name: s.name, shape: s.tensor.shape, dtype: s.tensor.dtype, data: await s.tensor.data() })));
    tf.dispose(state.map((s) => s.tensor));
    step.dispose();
    model.dispose();
    expect(optimizer[0]).toMatchObject({ name: 'iter' });
    expect(optimizer.length).toBe(1 + 2 * 8);

    // A fresh model and step, as a retried attempt builds them: weights set after the step exists.
    const again = buildModel(spec);
    step = await denseGraphStep(denseStack(again)!, { loss: 'gce', gceQ: 0.7, lr: LR }, 0.9, 0.999, EPS);
    setModelWeights(again, weights, 'checkpoint');
    const restored = optimizer.map((o) => ({ name: o.name, tensor: toTensor(o as NamedArray) }));
    step.optimizer.setWeights(restored);
    tf.dispose(restored.map((r) => r.tensor));
    for (const b of data.slice(5)) step.run(b.x, b.labels, b.size).dispose();
    step.syncModel();
    const resumed = await modelWeights(again);
    step.dispose();
    again.dispose();
    expect(maxAbsDiff(resumed, whole.weights)).toBeLessThan(1e-6);
  }, 120_000);

  it('two steps in one process train their own variables, and leave no copy of the graph behind', async (ctx) => {
    needsNativeCpu(ctx);
    const specs: ModelSpec[] = [1, 2].map((seed) => ({ arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed }));
    const inits = await Promise.all(specs.map(start));
    const data = batches(4, 3);
    const refs = [await graph(specs[0]!, inits[0]!, data, 'ce'), await graph(specs[1]!, inits[1]!, data, 'ce')];
    const before = readdirSync(tmpdir()).filter((d) => d.startsWith('diffubias-dense-graph-')).length;
    const models = specs.map((s, k) => {
      const m = buildModel(s);
      setModelWeights(m, inits[k]!, 'initial weights');
      return m;
    });
    const steps = await Promise.all(models.map((m) => denseGraphStep(denseStack(m)!, { loss: 'ce', gceQ: 0.7, lr: LR }, 0.9, 0.999, EPS)));
    for (const b of data) for (const s of steps) s.run(b.x, b.labels, b.size).dispose();
    for (const [k, s] of steps.entries()) {
      s.syncModel();
      expect(maxAbsDiff(await modelWeights(models[k]!), refs[k]!.weights)).toBeLessThan(1e-6);
      s.dispose();
      models[k]!.dispose();
    }
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith('diffubias-dense-graph-')).length).toBe(before);
  }, 120_000);

  it('is the step trainClassifier gets for the MLP with Adam on the native CPU backend, not with SGD', async (ctx) => {
    needsNativeCpu(ctx);
    const model = buildModel({ arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 0 });
    const adam = await createTrainStep(model, { loss: 'gce', gceQ: 0.7, lr: 1e-3, optimizer: 'adam' }, backend);
    const sgd = await createTrainStep(model, { loss: 'gce', gceQ: 0.7, lr: 1e-3, optimizer: 'sgd' }, backend);
    expect(typeof adam.optimizer.setLearningRate).toBe('function');
    expect('applyGradients' in adam.optimizer).toBe(false);
    expect('applyGradients' in sgd.optimizer).toBe(true);
    adam.dispose();
    sgd.dispose();
    model.dispose();
  });

  it('is built from rank-2 MatMuls, not BatchMatMulV2 (which grappler does not fuse and whose gradient also computes d/dx)', () => {
    // Op names are stored as plain strings in the graph's protobuf; a variable of unknown rank turns
    // every tf.matmul into BatchMatMulV2 and costs ~20% of the step.
    const graph = readFileSync(join(DENSE_TRAIN_GRAPH, 'saved_model.pb')).toString('latin1');
    expect(graph).toContain('MatMul');
    expect(graph).not.toContain('BatchMatMul');
  });
});
