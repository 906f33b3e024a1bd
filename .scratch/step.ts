import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/classifier/backend';
import { buildModel } from '../lib/classifier/models';
import { createTrainStep } from '../lib/classifier/train-step';
import { perSampleLoss } from '../lib/classifier/losses';
(async () => {
  await initBackend();
  const spec = { arch: 'mlp' as const, numClasses: 10, inputShape: [28, 28, 3] as [number, number, number], seed: 0 };
  const x = new Float32Array(256 * 2352).fill(0.5); const y = Int32Array.from({ length: 256 }, (_, i) => i % 10);
  const time = async (name: string, f: () => tf.Tensor, n = 60) => { for (let i = 0; i < 5; i++) f().dispose(); const t = performance.now(); const o: tf.Tensor[] = []; for (let i = 0; i < n; i++) o.push(f()); await o[n - 1]!.data(); tf.dispose(o); console.log(name.padEnd(30), ((performance.now() - t) / n).toFixed(2), 'ms'); };
  for (const opt of ['adam', 'sgd'] as const) { const m = buildModel(spec); const s = createTrainStep(m, { loss: 'gce', gceQ: 0.7, lr: 1e-3, optimizer: opt }, 'tensorflow'); await time(`step ${opt}`, () => s.run(x, y, 256)); }
  const m = buildModel(spec); const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  await time('grads only gce', () => tf.tidy(() => tf.variableGrads(() => tf.mean(perSampleLoss('gce', m.apply(tf.tensor4d(x, [256, 28, 28, 3]), { training: true }) as tf.Tensor2D, tf.tensor1d(y, 'int32'), 0.7)) as tf.Scalar, vars).value));
  await time('grads only ce', () => tf.tidy(() => tf.variableGrads(() => tf.mean(perSampleLoss('ce', m.apply(tf.tensor4d(x, [256, 28, 28, 3]), { training: true }) as tf.Tensor2D, tf.tensor1d(y, 'int32'), 0.7)) as tf.Scalar, vars).value));
  await time('forward only', () => tf.tidy(() => tf.mean(perSampleLoss('ce', m.apply(tf.tensor4d(x, [256, 28, 28, 3]), { training: true }) as tf.Tensor2D, tf.tensor1d(y, 'int32'), 0.7))));
})();
