import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { perSampleGce } from './losses';
import { buildModel, type ModelSpec } from './models';

export interface TrainingThroughput {
  backend: string;
  images_per_s: number;
  batch: number;
  steps: number;
}

/** Training steps per second on random tensors of the real shapes (after one warm-up step). */
export async function trainingThroughput(spec: ModelSpec, batch: number, steps: number): Promise<TrainingThroughput> {
  const backend = await initBackend();
  const model = buildModel(spec);
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomUniform([batch, ...spec.inputShape]);
  const y = tf.randomUniform([batch], 0, spec.numClasses, 'int32') as tf.Tensor1D;
  const step = async () => {
    const cost = optimizer.minimize(() => tf.mean(perSampleGce(model.apply(x, { training: true }) as tf.Tensor2D, y, 0.7)) as tf.Scalar, true);
    await cost!.data();
    cost!.dispose();
  };
  await step();
  const start = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { backend, images_per_s: Number(((batch * steps) / seconds).toFixed(1)), batch, steps };
}
