import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { buildModel, type ModelSpec } from './models';
import { batchPredictor } from './predict';
import { createTrainStep } from './train-step';

export interface Throughput {
  backend: string;
  images_per_s: number;
  batch: number;
  steps: number;
}

function randomBatch(spec: ModelSpec, batch: number): { x: Float32Array; labels: Int32Array } {
  // Fixed values, not Math.random: the same bytes every run (and in tools/bench_reference.py's shapes).
  const x = new Float32Array(batch * spec.inputShape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % spec.numClasses);
  return { x, labels };
}

/**
 * The product's training step (engines/classifier/train-step.ts: GCE, Adam) on fixed data of the real
 * shapes, after warm-up steps; one read at the end, as an epoch does.
 */
export async function trainingThroughput(spec: ModelSpec, batch: number, steps: number, warmup = 3): Promise<Throughput> {
  const backend = await initBackend();
  const model = buildModel(spec);
  const step = await createTrainStep(model, { loss: 'gce', gceQ: 0.7, lr: 1e-3, optimizer: 'adam' }, backend);
  const { x, labels } = randomBatch(spec, batch);
  const run = async (n: number) => {
    const costs = Array.from({ length: n }, () => step.run(x, labels, batch));
    await costs[costs.length - 1]!.data();
    tf.dispose(costs);
  };
  await run(warmup);
  const start = performance.now();
  await run(steps);
  const seconds = (performance.now() - start) / 1000;
  step.dispose();
  model.dispose();
  return { backend, images_per_s: Number(((batch * steps) / seconds).toFixed(1)), batch, steps };
}

/** Inference as scoreLosses and evaluate run it (predictAll): a forward pass per batch, logits read back each batch. */
export async function inferenceThroughput(spec: ModelSpec, batch: number, steps: number): Promise<Throughput & { inference: string }> {
  const backend = await initBackend();
  const model = buildModel(spec);
  const { x } = randomBatch(spec, batch);
  const predictor = await batchPredictor(model);
  await predictor.logits(x, batch);
  const start = performance.now();
  for (let i = 0; i < steps; i++) await predictor.logits(x, batch);
  const seconds = (performance.now() - start) / 1000;
  await predictor.dispose();
  model.dispose();
  return { backend, inference: predictor.engine, images_per_s: Number(((batch * steps) / seconds).toFixed(1)), batch, steps };
}
