import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
async function main() {
  await tf.setBackend('wasm');
  for (const [m, k, n] of [[64, 7281, 576], [576, 7281, 64], [64, 65536, 576], [576, 65536, 64]] as const) {
    const a = tf.randomNormal([m, k]) as tf.Tensor2D; const b0 = tf.randomNormal([k, n]) as tf.Tensor2D;
    let t0 = performance.now(); let it = 0;
    while (performance.now() - t0 < 1500) { const b = tf.add(b0, 0) as tf.Tensor2D; b.dispose(); it++; }
    const copyMs = (performance.now() - t0) / it;
    t0 = performance.now(); it = 0;
    while (performance.now() - t0 < 2000) { const b = tf.add(b0, 0) as tf.Tensor2D; const r = tf.matMul(a, b); r.dataSync(); r.dispose(); b.dispose(); it++; }
    const ms = (performance.now() - t0) / it - copyMs;
    t0 = performance.now(); it = 0;
    while (performance.now() - t0 < 2000) { const r = tf.matMul(a, b0); r.dataSync(); r.dispose(); it++; }
    const cachedMs = (performance.now() - t0) / it;
    console.log(`matmul ${m}x${k}x${n}`, 'fresh b', ms.toFixed(1), 'ms', (2*m*k*n/ms/1e6).toFixed(2), 'GFLOP/s; cached b', cachedMs.toFixed(1), 'ms', (2*m*k*n/cachedMs/1e6).toFixed(2));
  }
}
main();
