process.env.TF_CPP_MIN_LOG_LEVEL='2';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/classifier/backend';
import { buildModel } from '../lib/classifier/models';
(async () => {
  console.log(await initBackend());
  const m = buildModel({ arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 0 });
  const x = new Float32Array(512 * 2352).fill(0.5);
  const time = async (name: string, f: () => Promise<void>, n = 20) => { await f(); const t = performance.now(); for (let i = 0; i < n; i++) await f(); console.log(name.padEnd(30), ((performance.now() - t) / n).toFixed(2), 'ms'); };
  await time('tensor4d+data', async () => { const t = tf.tensor4d(x, [512, 28, 28, 3]); await tf.sum(t).data(); t.dispose(); });
  await time('predict', async () => { const o = tf.tidy(() => m.predict(tf.tensor4d(x, [512, 28, 28, 3])) as tf.Tensor); await o.data(); o.dispose(); });
  await time('apply', async () => { const o = tf.tidy(() => m.apply(tf.tensor4d(x, [512, 28, 28, 3])) as tf.Tensor); await o.data(); o.dispose(); });
  const xt = tf.tensor4d(x, [512, 28, 28, 3]);
  await time('apply (tensor reused)', async () => { const o = tf.tidy(() => m.apply(xt) as tf.Tensor); await o.data(); o.dispose(); });
  await time('matmul only', async () => { const o = tf.tidy(() => tf.matMul(tf.reshape(xt, [512, 2352]), m.getLayer('fc1').getWeights()[0]!)); await o.data(); o.dispose(); });
})();
